import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentOptions, agentBuild, type RunningAgent, startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { type ClientResult, createVerifiedFetch, type VerifiedFetch } from '@tmb/client';
import {
  demoRegistry,
  type RunningSampleServer,
  SAMPLE_ENGINE_EXE,
  type SampleVariant,
  startSampleServer,
  writeDemoWeights,
} from '@tmb/demo';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { telemetryDemo } from './demo-telemetry.ts';

const HELP = `usage: tmb demo [--once] [--json] [options]

Runs the whole system on 127.0.0.1 with its data in a temporary folder: two SAMPLE model
servers answering as the same model (an honest one and a cheaper stand-in), an agent in front
of each, and a verifier. It sends requests through the agents with the official openai client,
streamed and not, checks each answer against its receipt, and prints the verdicts.

  --once              send one round of requests, print, stop everything and exit
                      (0 when every honest request passed with no failed check and
                      every cheap one failed weights.allowed)
  --json              one JSON object per request on stdout, explanations on stderr
  --interval SECONDS  without --once: time between requests after the first round (default 3)
  --model NAME        the model name both sample servers answer as (default sample-7b)
  --token-latency MS  the honest sample's milliseconds per token (default 5)
  --verbose           print the agents' log lines on stderr
  --telemetry         instead: the GPU telemetry demo on a SIMULATED GPU (docs/telemetry.md): a warm-up
                      fits a signed profile, then telemetry.consistent passes for the honest
                      backend and fails for the cheap one (exit 0 when it does)
  --tpm MODE          auto (default): the hardware TPM at /dev/tpmrm0, else one swtpm per agent
                      (provisioned with its own local CA, which the verifier trusts) when swtpm is
                      installed, else none; swtpm; device; none (receipts then reach L0 only)

Without --once it keeps sending until Ctrl-C (SIGINT) or SIGTERM, then stops what it started.`;

export const L0_STATEMENT = [
  'What L0 proves: each answer below came through an agent whose Ed25519 key is enrolled with the',
  'verifier, and that agent signed a receipt whose hashes match the exact bytes this client sent',
  'and received (so nothing was altered after the agent, and the receipt is genuine).',
  'What it does NOT prove: which model produced the answer. The "cheap" backend serves a cheaper',
  'stand-in under the same model name (note its shorter answers) and still reaches L0: it is NOT',
  'caught at L0. Weight measurement with TPM quotes (L1) and telemetry (L2) catch it; they come in',
  'later issues.',
  'Each agent also measured its weights file (stand-ins, not models) and the verifier holds a model',
  "registry: the cheap backend's weights are sample-1b, so its answers fail weights.allowed",
  '(WEIGHTS_NOT_ALLOWED) even at L0: its own measurement log names them (docs/registry.md).',
].join('\n');

export const L1_STATEMENT = [
  'What L1 adds: each agent created an attestation key (AK) on its TPM, proven to sit beside an',
  'endorsement key whose certificate chains to a CA the verifier trusts (credential activation).',
  'At start the agent extended the hash of its receipt-signing key into an application PCR, as an',
  'event of its measurement log. About once a second it signs a checkpoint of its receipt log and',
  'the TPM quotes it with a fresh verifier nonce; the verifier replays the log to the quoted PCR,',
  'checks the key, the TPM clock and the checkpoint, and each receipt below is proven to be in a',
  'quoted checkpoint (the client checks that inclusion proof itself). So a receipt at L1 was signed',
  'by the key this TPM-attested boot of the agent bound, and the log was never forked.',
  'With swtpm this is a software TPM and a local CA: it shows the mechanism, not hardware trust.',
  "The weights files are measured into the same PCR: the honest backend's are sample-7b, allowed",
  "for the model asked for; the cheap backend's are sample-1b, so it fails weights.allowed and stays below L1.",
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
  /** The level an honest answer reaches with this stack's TPMs. */
  expected: 'L0' | 'L1';
  tpmNote: string;
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
async function startStack(
  model: string,
  latencyMs: number,
  tpmMode: 'auto' | 'swtpm' | 'device' | 'none',
  log: (line: string) => void,
): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-demo-'));
  const closers: Array<() => Promise<void>> = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const tokens = { honest: randomBytes(24).toString('hex'), cheap: randomBytes(24).toString('hex') };
    let mode =
      tpmMode !== 'auto'
        ? tpmMode
        : existsSync('/dev/tpmrm0')
          ? 'device'
          : onPath('swtpm') && onPath('swtpm_setup')
            ? 'swtpm'
            : 'none';
    // One TPM per agent: an swtpm each (each with its own local CA), or the host's TPM, shared,
    // with a PCR each (PCR 15 and 14).
    const tpms: Record<SampleVariant, AgentOptions['tpm']> = { honest: 'none', cheap: 'none' };
    const tpmRoots: string[] = [];
    let why = '';
    for (const variant of ['honest', 'cheap'] as const) {
      if (mode === 'device') tpms[variant] = { kind: 'device' };
      if (mode !== 'swtpm') continue;
      try {
        const state = await provisionSwtpm(join(dir, `swtpm-${variant}`));
        const swtpm = await startSwtpm(state);
        closers.push(() => swtpm.stop());
        tpms[variant] = swtpm.tcti;
        tpmRoots.push(
          await readFile(state.rootCertPath, 'utf8'),
          await readFile(state.issuerCertPath, 'utf8'),
        );
      } catch (err) {
        if (tpmMode !== 'auto') throw err;
        // auto: where swtpm cannot be provisioned the demo runs at L0 and says why.
        mode = 'none';
        why = ` (swtpm failed: ${(err as Error).message.slice(0, 160)})`;
        tpms.honest = 'none';
        tpms.cheap = 'none';
      }
    }
    // Stand-in weights (honest: sample-7b, cheap: sample-1b) and the registry saying so (docs/registry.md).
    const weights = await writeDemoWeights(dir, model);
    const verifier = await startVerifier({
      registry: await demoRegistry(weights, [(await agentBuild()).digest]),
      dbPath: join(dir, 'verifier.db'),
      tokens: [
        { token: tokens.honest, agent: 'gpu-honest' },
        { token: tokens.cheap, agent: 'gpu-cheap' },
      ],
      tpmRoots,
    });
    closers.push(() => verifier.close());
    // The client names its own verifier rather than trusting the provider's tmb-receipt-url, and
    // waits (up to 5 s) for a quoted checkpoint to cover each receipt.
    const tmb = createVerifiedFetch({
      verifierUrl: verifier.url,
      waitForQuoteMs: mode === 'none' ? 0 : 5_000,
    });
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
          measure: { weights: [weights[variant].path], engineExe: SAMPLE_ENGINE_EXE },
          tpm: tpms[variant],
          appPcr: variant === 'honest' ? 15 : 14,
          // Quote a little more often than the 1 s default, so each answer is covered quickly.
          checkpointIntervalMs: 300,
          checkpointMinIntervalMs: 250,
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
    const tpmNote =
      mode === 'swtpm'
        ? 'TPM: one swtpm per agent (software TPM, local CA trusted by the verifier): answers reach L1'
        : mode === 'device'
          ? "TPM: the host TPM at /dev/tpmrm0, but the demo's verifier knows no TPM manufacturer's CA: answers reach L0 (tmb verifier --tpm-roots DIR gives it one)"
          : `TPM: none (no /dev/tpmrm0 and no swtpm, or --tpm none)${why}: answers reach L0 only`;
    return { expected: mode === 'swtpm' ? 'L1' : 'L0', tpmNote, verifier, backends, tmb, close };
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

/** `tmb demo`: see HELP. Returns 0 when every honest request reached L1 (L0 without a TPM) with no failed check and every cheap one failed weights.allowed. */
export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    once: { type: 'boolean' },
    json: { type: 'boolean' },
    interval: { type: 'string' },
    model: { type: 'string' },
    'token-latency': { type: 'string' },
    verbose: { type: 'boolean' },
    tpm: { type: 'string' },
    telemetry: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const intervalMs = number(values.interval ?? '3', '--interval', 0.05) * 1000;
  const latencyMs = number(values['token-latency'] ?? '5', '--token-latency', 0);
  const model = values.model ?? 'sample-7b';
  const tpmMode = values.tpm ?? 'auto';
  if (tpmMode !== 'auto' && tpmMode !== 'swtpm' && tpmMode !== 'device' && tpmMode !== 'none')
    throw new UsageError('--tpm is auto, swtpm, device or none');
  const json = values.json === true;
  if (values.telemetry)
    return telemetryDemo({ model, latencyMs: Math.max(latencyMs, 1), json, tpm: tpmMode }, io);
  const say = json ? io.stderr : io.stdout; // prose never mixes with the JSON lines on stdout

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let stack: Stack | undefined;
  let allOk = true;
  try {
    stack = await startStack(
      model,
      latencyMs,
      tpmMode,
      values.verbose ? (l) => io.stderr(`${l}\n`) : () => {},
    );
    const expected = stack.expected;
    say(`verifier ${stack.verifier.url}\n`);
    for (const b of stack.backends)
      say(
        `${b.variant.padEnd(6)} SAMPLE model server ${b.sample.url} <- agent ${b.agent.name} ${b.agent.url}\n`,
      );
    say(`${stack.tpmNote}\n\n${L0_STATEMENT}\n\n${expected === 'L1' ? `${L1_STATEMENT}\n\n` : ''}`);
    if (!json) io.stdout(line(COLUMNS.map((c) => c[0])));
    const print = (r: DemoRow) => {
      // The cheap backend's weights are sample-1b: it must be caught (weights.allowed fails).
      allOk &&=
        r.backend === 'cheap'
          ? r.checks.some((c) => c.name === 'weights.allowed' && c.status === 'fail')
          : r.level === expected && r.ok;
      if (json) io.stdout(`${JSON.stringify(r)}\n`);
      else io.stdout(line(COLUMNS.map((c) => c[2](r))));
    };
    let i = 0;
    for (; i < ROUND.length * stack.backends.length && !stop.signal.aborted; i++)
      print(await exchange(stack, stack.backends[i % 2]!, model, Math.floor(i / 2), stop.signal));
    if (values.once) {
      say(
        `\n${allOk ? `every honest request reached ${expected} with no failed check; every cheap one failed weights.allowed` : 'SOME REQUESTS FAILED VERIFICATION'}\n`,
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

/** Whether an executable is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, name)));
}
