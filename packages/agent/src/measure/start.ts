import { AGENT_KEY_EVENT } from '@tmb/core/ima';
import { MeasurementLog } from './log.ts';
import { postAssertedLog } from './post.ts';
import { type HostMeasurements, measureHost } from './roles.ts';
import { type HostSpec, isEmptySpec } from './spec.ts';

/** The host measurement of a running agent. */
export interface HostMeasurement {
  log: MeasurementLog;
  measured: HostMeasurements;
  /** Whether a TPM extends the log (false: the log is only the provider's word). */
  quoted: boolean;
  /** Measures again now; resolves to the number of entries appended. */
  remeasure(): Promise<number>;
  stop(): void;
}

type Emit = (event: string, detail: Record<string, unknown>) => void;

/**
 * Starts measuring the host for a running agent (agent.ts calls it once after start-up).
 *
 * - With a TPM, `log` is the boot's measurement log that the TPM driver extends and the
 *   attester quotes (attest/host.ts); the entries go out with the quoted evidence.
 * - Without one (`log` undefined), a log in memory is kept with no PCR behind it: it starts with
 *   the `tmb.agent-key` event (so a verifier attributes it to this start's key) and is posted
 *   whole to the verifier (postAssertedLog), now and after every change; checks on it are `asserted`.
 *
 * Every `watchMs` (default 5 s) measured files are checked for change (inode, size and times;
 * re-hashed only then); a changed one appends a new entry, never rewriting the log.
 * @returns undefined when `spec` asks for nothing
 */
export async function startHostMeasurement(o: {
  spec: HostSpec | undefined;
  log: MeasurementLog | undefined;
  publicKey: Uint8Array;
  pcr: number;
  name: string;
  verifier: { url: string; token: string } | undefined;
  emit: Emit;
  watchMs?: number;
}): Promise<HostMeasurement | undefined> {
  if (o.spec === undefined || isEmptySpec(o.spec)) return undefined;
  const quoted = o.log !== undefined;
  const log = o.log ?? new MeasurementLog({ pcrIndex: o.pcr, extend: () => {} });
  if (!quoted) await log.measureBuffer(AGENT_KEY_EVENT, o.publicKey);
  const measured = await measureHost(log, o.spec);
  o.emit('host_measured', { quoted, paths: measured.paths, agentBuild: measured.agentBuild });
  let unsent = !quoted && o.verifier !== undefined;
  const send = async () => {
    if (!unsent || o.verifier === undefined) return;
    try {
      await postAssertedLog(o.verifier, o.name, log);
      unsent = false;
    } catch (err) {
      o.emit('host_log_post_failed', { error: String(err) });
    }
  };
  await send();
  const remeasure = async () => {
    const added = await log.remeasure();
    if (added.length > 0) {
      o.emit('host_changed', { entries: added.map((e) => ({ path: e.path, digest: e.digest })) });
      unsent ||= !quoted && o.verifier !== undefined;
    }
    await send();
    return added.length;
  };
  // MeasurementLog.watch's loop, with the asserted log sent after a change.
  const timer = setInterval(
    () => {
      remeasure().catch((err: unknown) => o.emit('host_remeasure_failed', { error: String(err) }));
    },
    o.watchMs ?? o.spec.watchMs ?? 5_000,
  );
  timer.unref();
  return { log, measured, quoted, remeasure, stop: () => clearInterval(timer) };
}
