import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientResult } from '@tmb/client';
import { type Check, levelOf } from '@tmb/core';
import type { SampleVariant } from '@tmb/demo';
import { type Backend, SAMPLE_MS, type Stack } from './stack.ts';

export type Endpoint = 'chat' | 'completions' | 'embeddings';

/** One round: to each backend in turn. */
export const ROUND: ReadonlyArray<{ endpoint: Endpoint; stream: boolean }> = [
  { endpoint: 'chat', stream: false },
  { endpoint: 'chat', stream: true },
  { endpoint: 'completions', stream: true },
  { endpoint: 'embeddings', stream: false },
];
const PROMPTS = [
  'Which model wrote this answer?',
  'Summarise remote attestation in one line.',
  'What does a receipt bind?',
  'Name one way to catch a substituted model.',
];

/**
 * Tokens of every generated answer (vLLM's min_tokens with max_tokens): a fixed length, so even
 * the fast cheap answers span several telemetry samples, and both backends say as much.
 */
export const ANSWER_TOKENS = 48;

/** How a request reached its host: through nginx, routed by the client without nginx, or straight to one host. */
export type RowRouting = 'nginx' | 'direct (no nginx)' | 'host';

/** One request's outcome, as printed. */
export interface DemoRow {
  requestId: string | null;
  receiptId: string | null;
  /**
   * The kind of host that really served it: through nginx, per nginx's access log (the ground
   * truth, never the receipt); otherwise the host the client sent it to. 'unknown': nginx logged
   * no such request.
   */
  backend: SampleVariant | 'unknown';
  /** That host's name (gpu-honest, gpu-honest-2, ..., gpu-cheap), or null when unknown. */
  host: string | null;
  /** The agent name the signed receipt carries (what the verifier judged), or null without one. */
  agent: string | null;
  routing: RowRouting;
  endpoint: Endpoint;
  stream: boolean;
  /** The model the upstream reported, from the signed receipt. */
  model: string | null;
  /** Completion tokens the upstream reported, from the signed receipt (none for embeddings). */
  completionTokens: number | null;
  level: ClientResult['level'];
  ok: boolean;
  /** The client's checks, and the verifier's telemetry.consistent (the client holds no samples). */
  checks: ClientResult['checks'];
  /** The verifier's own verdict, read after the samples around the answer arrived. */
  verdict: ClientResult['verdict'] | null;
}

type VerdictAnswer = { verdict?: NonNullable<ClientResult['verdict']> };

/**
 * Waits (polling, up to about 20 s) until the samples after the end of receipt `id` reached the
 * verifier, so its telemetry.consistent check is scored rather than skipped for want of samples.
 */
export async function settle(stack: Stack, b: Backend | undefined, id: string | null): Promise<void> {
  if (!telemetryOn(stack, b)) return;
  // Bounded at about 20 s: the samples arrive within a push interval (200 ms) on an idle machine.
  for (let i = 0; i < 330; i++) {
    await sleep(3 * SAMPLE_MS);
    if (id === null) return;
    const r = await fetch(`${stack.verifier.url}/v1/telemetry/receipts/${id}`);
    const f = (await r.json()) as { check?: { detail: string } };
    if (r.status === 200 && !/no-samples-around-window/.test(f.check?.detail ?? '')) return;
  }
}

/** Whether answers of host `b` (undefined: not known) are scored by telemetry. */
function telemetryOn(stack: Stack, b: Backend | undefined): boolean {
  return b !== undefined ? b.gpuUrl !== undefined : stack.telemetry !== undefined;
}

/**
 * Sends request number `i` through the provider's router: to nginx, which picks the host, or,
 * without nginx, to the host the client picks by the same weights.
 */
export function exchangeRouted(
  stack: Stack,
  model: string,
  i: number,
  signal: AbortSignal,
): Promise<DemoRow> {
  return stack.lb.routing === 'nginx'
    ? exchange(stack, 'lb', model, i, signal)
    : exchange(stack, stack.lb.pick(), model, i, signal, 'direct (no nginx)');
}

/**
 * Sends request number `i` (its kind and prompt cycle) to `b` (or through nginx: 'lb') and
 * checks it against its receipt.
 */
export async function exchange(
  stack: Stack,
  to: Backend | 'lb',
  model: string,
  i: number,
  signal: AbortSignal,
  routing: RowRouting = to === 'lb' ? 'nginx' : 'host',
): Promise<DemoRow> {
  const openai = to === 'lb' ? stack.lb.openai! : to.openai;
  const { endpoint, stream } = ROUND[i % ROUND.length]!;
  const prompt = PROMPTS[i % PROMPTS.length]!;
  const opts = { signal };
  // Sent as is by the openai client; not in its types (a vLLM extension).
  const length = { max_tokens: ANSWER_TOKENS, ...{ min_tokens: ANSWER_TOKENS } };
  let response: Response;
  if (endpoint === 'embeddings') {
    ({ response } = await openai.embeddings.create({ model, input: prompt }, opts).withResponse());
  } else if (endpoint === 'chat') {
    const messages = [{ role: 'user' as const, content: prompt }];
    if (stream) {
      const r = await openai.chat.completions
        .create({ model, messages, ...length, stream, stream_options: { include_usage: true } }, opts)
        .withResponse();
      response = r.response;
      for await (const _ of r.data); // read to the end: the receipt covers the whole stream
    } else
      ({ response } = await openai.chat.completions
        .create({ model, messages, ...length }, opts)
        .withResponse());
  } else {
    const r = await openai.completions
      .create({ model, prompt, ...length, stream: true, stream_options: { include_usage: true } }, opts)
      .withResponse();
    response = r.response;
    for await (const _ of r.data);
  }
  signal.throwIfAborted(); // a request cut by Ctrl-C is not worth a verdict
  // Through nginx, where it went is read from nginx's own log, by the request id nginx gave it.
  const b = to === 'lb' ? await stack.lb.servedBy(response.headers.get('x-request-id')) : to;
  await settle(stack, b, response.headers.get('tmb-receipt-id'));
  const result = await stack.tmb.verify(response);
  let verdict = result.verdict ?? null;
  const checks = [...result.checks];
  if (telemetryOn(stack, b) && result.receiptId !== null) {
    // Verdicts are recomputed on every read: read it again now that the samples are in.
    const again = (await (
      await fetch(`${stack.verifier.url}/v1/receipts/${result.receiptId}`)
    ).json()) as VerdictAnswer;
    verdict = again.verdict ?? verdict;
    // The SDK verified as soon as the body ended, before the samples after it arrived: its
    // telemetry.consistent (passed on from the verifier) is replaced by the one read now.
    const t = again.verdict?.checks.find((c) => c.name === 'telemetry.consistent');
    const at = checks.findIndex((c) => c.name === 'telemetry.consistent');
    if (at !== -1) checks.splice(at, 1);
    if (t !== undefined)
      checks.push({ ...t, detail: `per the verifier: ${t.detail}` } as ClientResult['checks'][number]);
  }
  return {
    requestId: result.requestId,
    receiptId: result.receiptId,
    backend: b?.variant ?? 'unknown',
    host: b?.host.name ?? null,
    agent: result.body?.agent ?? null,
    routing,
    endpoint,
    stream,
    model: result.body?.model.reported ?? null,
    completionTokens: result.body?.usage.completion ?? null,
    level: levelOf(checks as Check[], { client: true }),
    ok: checks.every((c) => c.status !== 'fail'),
    checks,
    verdict,
  };
}
