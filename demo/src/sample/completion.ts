import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedOptions } from './options.ts';
import { MAX_COMPLETION_TOKENS, SAMPLE_GENERATE_EVENT, type SampleGenerate } from './options.ts';
import type { CompletionRequest } from './parse.ts';
import { sendJson, startEvents, writeEvent } from './reply.ts';
import { generateTokens, hashOf, naturalLength, responseIdentity } from './text.ts';

/** Tokens generated when the request gives no max_tokens and would not stop by itself (ignore_eos). */
const DEFAULT_LIMIT = 4096;

interface Choice {
  tokens: string[];
  finish: 'stop' | 'length';
}

function choices(o: ResolvedOptions, r: CompletionRequest, chat: boolean): Choice[] {
  const out: Choice[] = [];
  for (let i = 0; i < r.n; i++) {
    const seed = hashOf(chat ? 'chat' : 'text', o.model, r.prompt, String(r.seed ?? ''), String(i));
    const wanted = r.ignoreEos
      ? Number.POSITIVE_INFINITY
      : Math.max(naturalLength(seed, o.variant), r.minTokens);
    const count = Math.min(wanted, r.maxTokens ?? DEFAULT_LIMIT, MAX_COMPLETION_TOKENS);
    out.push({ tokens: generateTokens(seed, o.variant, count), finish: count < wanted ? 'length' : 'stop' });
  }
  return out;
}

/**
 * Answers a /v1/chat/completions (`chat`) or /v1/completions request: one JSON object with
 * `usage`, or an SSE stream of chunks ending `data: [DONE]`, with a usage chunk first when
 * `stream_options.include_usage` is set. Tokens are paced `tokenLatencyMs` apart, after the first
 * on a fixed schedule from it (a token a late timer held back is sent at once: delays do not add up).
 */
export async function serveCompletion(
  res: ServerResponse,
  o: ResolvedOptions,
  r: CompletionRequest,
  body: Uint8Array,
  chat: boolean,
): Promise<void> {
  const startedAt = Date.now();
  const { id, created } = responseIdentity(chat ? 'chatcmpl' : 'cmpl', o.variant, body);
  const all = choices(o, r, chat);
  const completionTokens = all.reduce((s, c) => s + c.tokens.length, 0);
  const usage = {
    prompt_tokens: r.promptTokens,
    completion_tokens: completionTokens,
    total_tokens: r.promptTokens + completionTokens,
  };
  const head = {
    id,
    object: chat ? (r.stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion',
    created,
    model: o.model,
    system_fingerprint: 'fp_tmb_sample',
  };
  const steps = Math.max(...all.map((c) => c.tokens.length));
  const event = {
    endpoint: chat ? 'chat.completions' : 'completions',
    model: o.model,
    variant: o.variant,
  } as const;
  const report = (firstTokenAt: number | null, completed: boolean) =>
    o.onGeneration({
      ...event,
      stream: r.stream,
      promptTokens: r.promptTokens,
      completionTokens,
      startedAt,
      firstTokenAt,
      endedAt: Date.now(),
      completed,
    });

  if (!r.stream) {
    const generate: SampleGenerate = { tokens: completionTokens, durationMs: o.tokenLatencyMs * steps };
    res.emit(SAMPLE_GENERATE_EVENT, generate);
    if (o.tokenLatencyMs > 0 && steps > 0) await sleep(o.tokenLatencyMs * steps);
    if (res.destroyed) return report(null, false);
    const choicesJson = all.map((c, index) => {
      const text = c.tokens.join('');
      return chat
        ? {
            index,
            message: { role: 'assistant', content: text, refusal: null },
            logprobs: null,
            finish_reason: c.finish,
          }
        : { index, text, logprobs: null, finish_reason: c.finish };
    });
    sendJson(res, 200, { ...head, choices: choicesJson, usage });
    return report(steps > 0 ? Date.now() : null, true);
  }

  // Each event is `head` + one choice (+ `"usage": null` when usage was asked for), the same
  // bytes JSON.stringify would give; spliced as text because stringifying the whole chunk per
  // token was a fifth of the server's time in bench/sse.bench.ts, time that it then took from
  // the agent's share of the machine.
  const prefix = `${JSON.stringify(head).slice(0, -1)},"choices":[`;
  const suffix = r.includeUsage ? '],"usage":null}' : ']}';
  const chunk = (choice: object) => prefix + JSON.stringify(choice) + suffix;
  const delta = (index: number, text: string, finish: string | null, role = false) =>
    chat
      ? chunk({
          index,
          delta: role ? { role: 'assistant', content: text } : finish ? {} : { content: text },
          logprobs: null,
          finish_reason: finish,
        })
      : chunk({ index, text, logprobs: null, finish_reason: finish });

  startEvents(res);
  let firstTokenAt: number | null = null;
  if (chat)
    for (let i = 0; i < all.length; i++)
      if (!(await writeEvent(res, delta(i, '', null, true)))) return report(null, false);
  // After the first token, tokens are due on a fixed schedule from it, not tokenLatencyMs after
  // the previous one was written: on a loaded machine each timer fires late, and per-token
  // sleeps added every delay up (the demo's warm-up measured 145 tokens/s instead of 185 under
  // two test suites). From the first token, not the start: a late first token would otherwise
  // be followed by a burst, and the rate from the first token (what telemetry measures) rise.
  let paced: number | undefined;
  for (let t = 0; t < steps; t++) {
    const due = paced === undefined ? o.tokenLatencyMs : paced + t * o.tokenLatencyMs - performance.now();
    if (o.tokenLatencyMs > 0 && due > 0) await sleep(due);
    for (let i = 0; i < all.length; i++) {
      const token = all[i]!.tokens[t];
      if (token === undefined) continue;
      if (!(await writeEvent(res, delta(i, token, null)))) return report(firstTokenAt, false);
      firstTokenAt ??= Date.now();
    }
    paced ??= performance.now();
  }
  for (let i = 0; i < all.length; i++)
    if (!(await writeEvent(res, delta(i, '', all[i]!.finish)))) return report(firstTokenAt, false);
  if (r.includeUsage && !(await writeEvent(res, JSON.stringify({ ...head, choices: [], usage }))))
    return report(firstTokenAt, false);
  if (!(await writeEvent(res, '[DONE]'))) return report(firstTokenAt, false);
  res.end();
  return report(firstTokenAt, true);
}
