import { runTelemetryDemo, type TelemetryDemoRow } from '@tmb/demo';
import type { Io } from '../registry.ts';

export const TELEMETRY_STATEMENT = [
  'THE GPU IS SIMULATED: no hardware is read. Each sample model server drives a simulated GPU whose',
  'power and energy counter follow the tokens it generates; the cheap stand-in spends 0.6 times the',
  'energy per token. Each agent runs its real nvidia-smi collector against demo/bin/nvidia-smi, a',
  "stand-in printing the simulated state in nvidia-smi's CSV format, digest-chains the samples and",
  'streams them to the verifier. A warm-up on the honest backend fitted a profile, signed with a',
  "demo key the verifier trusts. Each answer's window of samples (from its receipt's times) is",
  'scored against that profile: telemetry.consistent passes for the honest backend and fails',
  '(TELEMETRY_INCONSISTENT) for the cheap one. Telemetry is a physical cross-check with a measured',
  'error rate, never proof on its own; L2 needs L1 (a TPM-quoted host) as well, so these rows stay',
  'at L0 here.',
].join('\n');

function row(r: TelemetryDemoRow): string {
  const t = r.telemetry;
  const status = t === undefined ? '-' : t.code !== undefined ? `${t.status} (${t.code})` : t.status;
  const cells = [
    r.backend.padEnd(7),
    (r.stream ? 'yes' : 'no').padEnd(6),
    String(r.completionTokens ?? '-').padEnd(6),
    r.level.padEnd(5),
    status.padEnd(32),
    t?.detail.replace(/^.*?: (log-likelihood [^;]*); ([^,]*), ([^,]*),.*$/, '$1, $2, $3') ?? '',
  ];
  return `${cells.join('  ')}\n`;
}

/**
 * `tmb demo --telemetry`: the telemetry path on a simulated GPU (demo/src/gpu/run.ts). Exit 0
 * when every honest answer passed telemetry.consistent and every cheap one failed it.
 */
export async function telemetryDemo(
  o: { model: string; latencyMs: number; json: boolean },
  io: Io,
): Promise<number> {
  const say = o.json ? io.stderr : io.stdout;
  say(`${TELEMETRY_STATEMENT}\n\n`);
  const result = await runTelemetryDemo({
    model: o.model,
    tokenLatencyMs: o.latencyMs,
    say: (line) => say(`${line}\n`),
  });
  if (!o.json) io.stdout(`\nbackend  stream  tokens  level  telemetry.consistent              score\n`);
  for (const r of result.rows) io.stdout(o.json ? `${JSON.stringify(r)}\n` : row(r));
  say(
    `\n${result.caught ? 'the cheap backend was caught by telemetry; the honest one passed' : 'TELEMETRY DID NOT SEPARATE THE BACKENDS AS EXPECTED'}\n`,
  );
  return result.caught ? 0 : 1;
}
