import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningAgent, startAgent } from '@tmb/agent';
import { type ClientResult, createVerifiedFetch, type VerifiedFetch } from '@tmb/client';
import { type RunningSampleServer, type SampleVariant, startSampleServer } from '@tmb/demo';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb demo [--once] [--json] [options]

Runs the whole system on 127.0.0.1 with its data in a temporary folder: two SAMPLE model
servers answering as the same model (an honest one and a cheaper stand-in), an agent in front
of each, and a verifier. It sends requests through the agents with the official openai client,
streamed and not, checks each answer against its receipt, and prints the verdicts.

  --once              send one round of requests, print, stop everything and exit
                      (0 when every request reached L0 with no failed check)
  --json              one JSON object per request on stdout, explanations on stderr
  --interval SECONDS  without --once: time between requests after the first round (default 3)
  --model NAME        the model name both sample servers answer as (default sample-7b)
  --token-latency MS  the honest sample's milliseconds per token (default 5)
  --verbose           print the agents' log lines on stderr

Without --once it keeps sending until Ctrl-C (SIGINT) or SIGTERM, then stops what it started.`;

export const L0_STATEMENT = [
  'What L0 proves: each answer below came through an agent whose Ed25519 key is enrolled with the',
  'verifier, and that agent signed a receipt whose hashes match the exact bytes this client sent',
  'and received (so nothing was altered after the agent, and the receipt is genuine).',
  'What it does NOT prove: which model produced the answer. The "cheap" backend serves a cheaper',
  'stand-in under the same model name (note its shorter answers) and still reaches L0: it is NOT',
  'caught at L0. Weight measurement with TPM quotes (L1) and telemetry (L2) catch it; they come in',
  'later issues.',
].join('\n');

type Endpoint = 'chat' | 'completions' | 'embeddings';
const ROUND: ReadonlyArray<{ endpoint: Endpoint; stream: boolean }> = [
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

interface Backend {
  variant: SampleVariant;
  sample: RunningSampleServer;
  agent: RunningAgent;
  openai: OpenAI;
}

interface Stack {
  verifier: RunningVerifier;
  backends: Backend[];
  tmb: VerifiedFetch;
  close(): Promise<void>;
}

/** One request's outcome, as printed. */
export interface DemoRow {
  requestId: string | null;
  receiptId: string | null;
  backend: SampleVariant;
  endpoint: Endpoint;
  stream: boolean;
  /** The model the upstream reported, from the signed receipt. */
  model: string | null;
  /** Completion tokens the upstream reported, from the signed receipt (none for embeddings). */
  completionTokens: number | null;
  level: ClientResult['level'];
  ok: boolean;
  checks: ClientResult['checks'];
  /** The verifier's own verdict, when it answered. */
  verdict: ClientResult['verdict'] | null;
}

/** Starts verifier, sample servers and agents; on failure stops what did start. */
async function startStack(model: string, latencyMs: number, log: (line: string) => void): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-demo-'));
  const closers: Array<() => Promise<void>> = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const tokens = { honest: randomBytes(24).toString('hex'), cheap: randomBytes(24).toString('hex') };
    const verifier = await startVerifier({
      dbPath: join(dir, 'verifier.db'),
      tokens: [
        { token: tokens.honest, agent: 'gpu-honest' },
        { token: tokens.cheap, agent: 'gpu-cheap' },
      ],
    });
    closers.push(() => verifier.close());
    // The client names its own verifier rather than trusting the provider's tmb-receipt-url.
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url });
    const backends: Backend[] = [];
    for (const variant of ['honest', 'cheap'] as const) {
      const sample = await startSampleServer({ model, variant, tokenLatencyMs: latencyMs });
      closers.push(() => sample.close());
      const name = `gpu-${variant}`;
      const agent = await startAgent(
        {
          upstream: sample.url,
          dataDir: join(dir, name),
          name,
          verifier: { url: verifier.url, token: tokens[variant] },
        },
        (event, detail) => log(`${name} ${event} ${JSON.stringify(detail)}`),
      );
      closers.push(() => agent.close());
      const openai = new OpenAI({
        baseURL: `${agent.url}/v1`,
        apiKey: 'sk-demo-unused',
        fetch: tmb.fetch,
        maxRetries: 0,
      });
      backends.push({ variant, sample, agent, openai });
    }
    return { verifier, backends, tmb, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Sends request number `i` (its kind and prompt cycle) to `b` and checks it against its receipt. */
async function exchange(
  stack: Stack,
  b: Backend,
  model: string,
  i: number,
  signal: AbortSignal,
): Promise<DemoRow> {
  const { endpoint, stream } = ROUND[i % ROUND.length]!;
  const prompt = PROMPTS[i % PROMPTS.length]!;
  const opts = { signal };
  let response: Response;
  if (endpoint === 'embeddings') {
    ({ response } = await b.openai.embeddings.create({ model, input: prompt }, opts).withResponse());
  } else if (endpoint === 'chat') {
    const messages = [{ role: 'user' as const, content: prompt }];
    if (stream) {
      const r = await b.openai.chat.completions
        .create({ model, messages, stream, stream_options: { include_usage: true } }, opts)
        .withResponse();
      response = r.response;
      for await (const _ of r.data); // read to the end: the receipt covers the whole stream
    } else ({ response } = await b.openai.chat.completions.create({ model, messages }, opts).withResponse());
  } else {
    const r = await b.openai.completions
      .create({ model, prompt, max_tokens: 32, stream: true, stream_options: { include_usage: true } }, opts)
      .withResponse();
    response = r.response;
    for await (const _ of r.data);
  }
  signal.throwIfAborted(); // a request cut by Ctrl-C is not worth a verdict
  const result = await stack.tmb.verify(response);
  return {
    requestId: result.requestId,
    receiptId: result.receiptId,
    backend: b.variant,
    endpoint,
    stream,
    model: result.body?.model.reported ?? null,
    completionTokens: result.body?.usage.completion ?? null,
    level: result.level,
    ok: result.ok,
    checks: result.checks,
    verdict: result.verdict ?? null,
  };
}

const COLUMNS: ReadonlyArray<[string, number, (r: DemoRow) => string]> = [
  ['request id', 36, (r) => r.requestId ?? '-'],
  ['receipt', 8, (r) => r.receiptId?.slice(0, 8) ?? '-'],
  ['backend', 7, (r) => r.backend],
  ['endpoint', 11, (r) => r.endpoint],
  ['stream', 6, (r) => (r.stream ? 'yes' : 'no')],
  ['model', 12, (r) => r.model ?? '-'],
  ['tokens', 6, (r) => String(r.completionTokens ?? '-')],
  ['level', 5, (r) => r.level],
  ['ok', 3, (r) => (r.ok ? 'yes' : 'NO')],
  ['failed checks', 0, (r) => failed(r).join(', ') || '-'],
];

function failed(r: DemoRow): string[] {
  return r.checks.filter((c) => c.status === 'fail').map((c) => (c.code ? `${c.name} (${c.code})` : c.name));
}

function line(cells: string[]): string {
  return `${cells.map((c, i) => c.padEnd(COLUMNS[i]![1])).join('  ')}\n`;
}

/** `tmb demo`: see HELP. Returns 0 when every request reached L0 with no failed check. */
export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    once: { type: 'boolean' },
    json: { type: 'boolean' },
    interval: { type: 'string' },
    model: { type: 'string' },
    'token-latency': { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const intervalMs = number(values.interval ?? '3', '--interval', 0.05) * 1000;
  const latencyMs = number(values['token-latency'] ?? '5', '--token-latency', 0);
  const model = values.model ?? 'sample-7b';
  const json = values.json === true;
  const say = json ? io.stderr : io.stdout; // prose never mixes with the JSON lines on stdout

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let stack: Stack | undefined;
  let allOk = true;
  try {
    stack = await startStack(model, latencyMs, values.verbose ? (l) => io.stderr(`${l}\n`) : () => {});
    say(`verifier ${stack.verifier.url}\n`);
    for (const b of stack.backends)
      say(
        `${b.variant.padEnd(6)} SAMPLE model server ${b.sample.url} <- agent ${b.agent.name} ${b.agent.url}\n`,
      );
    say(`\n${L0_STATEMENT}\n\n`);
    if (!json) io.stdout(line(COLUMNS.map((c) => c[0])));
    const print = (r: DemoRow) => {
      allOk &&= r.level === 'L0' && r.ok;
      if (json) io.stdout(`${JSON.stringify(r)}\n`);
      else io.stdout(line(COLUMNS.map((c) => c[2](r))));
    };
    let i = 0;
    for (; i < ROUND.length * stack.backends.length && !stop.signal.aborted; i++)
      print(await exchange(stack, stack.backends[i % 2]!, model, Math.floor(i / 2), stop.signal));
    if (values.once) {
      say(
        `\n${allOk ? 'every request reached L0 with no failed check' : 'SOME REQUESTS FAILED VERIFICATION'}\n`,
      );
      return stop.signal.aborted ? 130 : allOk ? 0 : 1;
    }
    say(`\nsending a request every ${intervalMs / 1000} s; Ctrl-C stops everything\n`);
    while (!stop.signal.aborted) {
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
      if (stop.signal.aborted) break;
      print(await exchange(stack, stack.backends[i % 2]!, model, Math.floor(i / 2), stop.signal));
      i++;
    }
    return 0;
  } catch (err) {
    // Ctrl-C during a request: its abort is expected, not a failure.
    if (stop.signal.aborted) return values.once ? 130 : 0;
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say('stopping the agents, the verifier and the sample servers\n');
    await stack?.close();
  }
}

function number(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number >= ${min}, got ${text}`);
  return n;
}
