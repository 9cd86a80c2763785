import type { DemoRow } from './exchange.ts';

/** `tmb demo --help`. */
export const HELP = `usage: tmb demo [--once] [--json] [options]

Runs the whole system on 127.0.0.1 with its data in a temporary folder, as a provider runs it:
SIMULATED hosts (an swtpm each, simulated UEFI firmware, and a simulated kernel that measures
every file opened inside the host's mount namespace into an IMA log and PCR 10: docs/kernel.md),
each running a SAMPLE model server answering as the same model (honest ones and one cheaper
stand-in, each driving a SIMULATED GPU) with a tmb agent in front of it; nginx in front of the
agents as the provider's load balancer, sending a share of the requests to the cheap host; and a
verifier. The runtime policy is learnt first from a golden honest host. A short warm-up fits the
honest host's telemetry profile; then it sends requests to nginx with the official openai
client, streamed and not, checks each answer against its receipt, prints the verdicts, and
compares them with where nginx's access log says each request really went.

  --once              send one round of requests, print, stop everything and exit
                      (0 when every honest request passed at its expected level with no failed
                      check and every cheap one was caught: weights.allowed and, for generated
                      text, telemetry.consistent failed)
  --json              one JSON object per request on stdout, then {"summary": ...}; explanations on stderr
  --hosts N           hosts in all, one of them cheap (default 3: gpu-honest, gpu-honest-2, gpu-cheap; 2 to 16)
  --cheat SHARE       share of the requests the load balancer sends to the cheap host, 0 to 1
                      (default 0.2; 0: an honest provider; 1: everything to the cheap host),
                      rounded to a whole percent by the nginx weights
  --routing MODE      auto (default): nginx when installed, else the demo client routes each request
                      itself by the same weights (labelled "routing: direct (no nginx)");
                      nginx (fail without it); direct
  --requests N        requests in the first round (default 4 per host)
  --interval SECONDS  without --once: time between requests after the first round (default 3)
  --model NAME        the model name both sample servers answer as (default sample-7b)
  --token-latency MS  the honest sample's milliseconds per token (default 5; at least 1 with telemetry)
  --no-telemetry      no simulated GPU, no telemetry, no warm-up: L1 at most
  --telemetry         the default: a simulated GPU, telemetry and a warm-up; of --telemetry
                      and --no-telemetry, the last one given counts
  --tpm MODE          auto (default): one swtpm per host (its own local CA, which the verifier
                      trusts) when swtpm is installed, else none; swtpm; none (L0 only).
                      L1 also needs the simulated kernel (root, fanotify, gcc): without it the
                      demo says why and its answers reach L0
  --attack NAME       after the round, attack the host gpu-honest as a provider with root would and
                      show the attack caught: forge (no agent: a script with its token and TPM),
                      preload (NODE_OPTIONS --import), patched-agent, wrong-weights (the engine
                      loads sample-1b), fake-smi (another nvidia-smi), swap-upstream (the agent
                      pointed at the cheap model server); implies --once. The attacked round is
                      sent straight to gpu-honest's agent, not through nginx
  --verbose           print the hosts' log lines on stderr
  --data-dir DIR      make the state folder inside DIR, an existing folder (default: the system's temp folder)
  --quiet             no progress lines on stderr while it starts and warms up (--json: none either)

Without --once it prints a ready-to-paste \`tmb chat\` line for the load balancer (the verifier's
key is written to the state folder), keeps sending until Ctrl-C (SIGINT) or SIGTERM, prints the
summary, then stops what it started.`;

export const L0_STATEMENT = [
  'What L0 proves: each answer below came through an agent whose Ed25519 key is enrolled with the',
  'verifier, and that agent signed a receipt whose hashes match the exact bytes this client sent',
  'and received (so nothing was altered after the agent, and the receipt is genuine).',
  'What it does NOT prove: which model produced the answer. The "cheap" backend serves a cheaper',
  'stand-in under the same model name and still passes every L0 check: it is NOT',
  'caught at L0 alone. Measured weights (with TPM quotes, L1) and telemetry (L2) catch it.',
  'Each engine read its weights file (stand-ins, not models) and the verifier holds a model',
  "registry: the cheap host's kernel log shows sample-1b's weights read, so its answers fail",
  'weights.allowed (WEIGHTS_NOT_ALLOWED) as soon as a quote covers that log (docs/registry.md).',
].join('\n');

export const L1_STATEMENT = [
  'What L1 adds: each agent created an attestation key (AK) on its TPM, proven to sit beside an',
  'endorsement key whose certificate chains to a CA the verifier trusts (credential activation).',
  "About once a second (and within 2 s of any change on the host) the TPM quotes the host's PCRs",
  "0-10 and the agent's PCR over a fresh verifier nonce and a signed checkpoint of its receipt log.",
  "The verifier replays the firmware's event log to PCRs 0-9 and the KERNEL's IMA log to PCR 10:",
  'every program run and every file read by the host since boot must be in the runtime policy or',
  'the registry (host.integrity), the agent build, the engine, the weights it loaded and the',
  'telemetry tool are read from that log, never from the agent (host.agent, weights.allowed...).',
  'A root process can extend any PCR, but not make the kernel forget what it ran.',
  'HERE THE KERNEL AND FIRMWARE ARE SIMULATED (a fanotify stand-in, swtpm, a local CA): every',
  'verdict says kernel: simulated; it shows the mechanism, not hardware trust (docs/deploy.md).',
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
  ['host', 12, (r) => r.host ?? '-'],
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
