import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
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
  'error rate, never proof on its own: L2 is L1 (a TPM-quoted host) and telemetry.consistent.',
].join('\n');

const TPM_NOTE = {
  swtpm:
    'TPM: one swtpm per agent (software TPM, local CA trusted by the verifier) and measured stand-in weights: honest answers reach L2; the cheap one also fails weights.allowed',
  none: 'TPM: none (swtpm not installed, or --tpm none): answers reach L0 at most, so L2 is out of reach here',
};

/** Whether an executable of that name is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, name)));
}

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
 * `tmb demo --telemetry`: the telemetry path on a simulated GPU (demo/src/gpu/run.ts), with an
 * swtpm per agent when `tpm` is swtpm (or auto and swtpm is installed). Exit 0 when every honest
 * answer passed telemetry.consistent at the expected level (L2 with TPMs, L0 without) and every
 * cheap one failed it.
 */
export async function telemetryDemo(
  o: { model: string; latencyMs: number; json: boolean; tpm: string },
  io: Io,
): Promise<number> {
  const say = o.json ? io.stderr : io.stdout;
  // swtpm only: the host TPM (`device`) is not used by this demo.
  const tpm =
    o.tpm === 'swtpm' || (o.tpm === 'auto' && onPath('swtpm') && onPath('swtpm_setup')) ? 'swtpm' : 'none';
  say(`${TELEMETRY_STATEMENT}\n${TPM_NOTE[tpm]}\n\n`);
  const result = await runTelemetryDemo({
    model: o.model,
    tokenLatencyMs: o.latencyMs,
    tpm,
    say: (line) => say(`${line}\n`),
  });
  if (!o.json) io.stdout(`\nbackend  stream  tokens  level  telemetry.consistent              score\n`);
  for (const r of result.rows) io.stdout(o.json ? `${JSON.stringify(r)}\n` : row(r));
  const honestOk = result.rows.every((r) => r.backend !== 'honest' || (r.ok && r.level === result.expected));
  say(
    `\n${result.caught ? `the cheap backend was caught by telemetry; the honest one passed (${result.expected})` : 'TELEMETRY DID NOT SEPARATE THE BACKENDS AS EXPECTED'}\n`,
  );
  return result.caught && honestOk ? 0 : 1;
}
