import type { DemoRow } from './exchange.ts';

/** `tmb demo --help`. */
export const HELP = `usage: tmb demo [--once] [--json] [options]

Runs the whole system on 127.0.0.1 with its data in a temporary folder: two SAMPLE model
servers answering as the same model (an honest one and a cheaper stand-in), each driving a
SIMULATED GPU, an agent in front of each (a TPM, measured stand-in weights, GPU telemetry), and a
verifier. A short warm-up on the honest backend fits its telemetry profile; then it sends
requests through the agents with the official openai client, streamed and not, checks each
answer against its receipt, and prints the verdicts.

  --once              send one round of requests, print, stop everything and exit
                      (0 when every honest request passed at its expected level with no failed
                      check and every cheap one was caught: weights.allowed and, for generated
                      text, telemetry.consistent failed)
  --json              one JSON object per request on stdout, explanations on stderr
  --interval SECONDS  without --once: time between requests after the first round (default 3)
  --model NAME        the model name both sample servers answer as (default sample-7b)
  --token-latency MS  the honest sample's milliseconds per token (default 5; at least 1 with telemetry)
  --no-telemetry      no simulated GPU, no telemetry, no warm-up: L1 at most
  --tpm MODE          auto (default): the hardware TPM at /dev/tpmrm0, else one swtpm per agent
                      (provisioned with its own local CA, which the verifier trusts) when swtpm is
                      installed, else none; swtpm; device; none (receipts then reach L0 only)
  --verbose           print the agents' log lines on stderr

Without --once it keeps sending until Ctrl-C (SIGINT) or SIGTERM, then stops what it started.`;

export const L0_STATEMENT = [
  'What L0 proves: each answer below came through an agent whose Ed25519 key is enrolled with the',
  'verifier, and that agent signed a receipt whose hashes match the exact bytes this client sent',
  'and received (so nothing was altered after the agent, and the receipt is genuine).',
  'What it does NOT prove: which model produced the answer. The "cheap" backend serves a cheaper',
  'stand-in under the same model name and still passes every L0 check: it is NOT',
  'caught at L0 alone. Measured weights (with TPM quotes, L1) and telemetry (L2) catch it.',
  'Each agent measured its weights file (stand-ins, not models) and the verifier holds a model',
  "registry: the cheap backend's weights are sample-1b, so its answers fail weights.allowed",
  '(WEIGHTS_NOT_ALLOWED): its own measurement log names them (docs/registry.md).',
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

export const L2_STATEMENT = [
  'What L2 adds: THE GPU IS SIMULATED (no hardware is read). Each sample model server drives a',
  'simulated GPU whose power and energy counter follow the tokens it generates; the cheap stand-in',
  'spends 0.6 times the energy per token. Each agent runs its real nvidia-smi collector against',
  "demo/bin/nvidia-smi (which prints the simulated state in nvidia-smi's CSV format), digest-chains",
  'the samples, streams them to the verifier, and puts the chain head in every checkpoint, so the',
  'TPM quote covers the samples too (telemetry.chain). A warm-up on the honest backend fitted a',
  "profile, signed with a demo key the verifier trusts; each answer's window of samples (from its",
  "receipt's times) is scored against it: telemetry.consistent passes for the honest backend and",
  'fails (TELEMETRY_INCONSISTENT) for the cheap one. L2 = L1 and telemetry.consistent. Telemetry is',
  'a physical cross-check with a measured error rate, never proof on its own; embeddings generate',
  'no tokens, so they are not scored (L1 at most).',
].join('\n');

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
  ['failed checks', 0, (r) => failedChecks(r).join(', ') || '-'],
];

/** Name (and code) of each failed check of a row. */
export function failedChecks(r: DemoRow): string[] {
  return r.checks.filter((c) => c.status === 'fail').map((c) => (c.code ? `${c.name} (${c.code})` : c.name));
}

function line(cells: string[]): string {
  return `${cells.map((c, i) => c.padEnd(COLUMNS[i]![1])).join('  ')}\n`;
}

/** The table's header line. */
export function tableHeader(): string {
  return line(COLUMNS.map((c) => c[0]));
}

/** One row of the table. */
export function tableRow(r: DemoRow): string {
  return line(COLUMNS.map((c) => c[2](r)));
}
