import { agentKeyId, type Check, CoreError, sha256, toHex } from '@tmb/core';
import { AGENT_KEY_EVENT, advanceIma, type ImaEntry, initialImaState, parseBinaryLog } from '@tmb/core/ima';
import { type Checkpoint, decodeConsistencyProof, verifyCheckpointExtends } from '@tmb/core/log';
import type { ClockInfo } from '@tmb/core/tpm';
import { reopenQuoted } from '../attest/quoted.ts';
import type { RunView } from '../attest/runs.ts';
import type { AgentAttest } from '../attest/state.ts';
import type { KeyRecord } from '../store/types.ts';
import type { Evidence } from './evidence.ts';

/** `log.replay` and what it moves the agent's state to (unchanged when it did not pass). */
export interface Replayed {
  check: Check;
  ima: AgentAttest['ima'];
  /** Key ids of tmb.agent-key events covered by a quote, every boot, and this boot's. */
  bound: string[];
  boundBoot: string[];
  /** The entries the quote covers. */
  accepted: ImaEntry[];
}

/**
 * `log.replay`: the agent's measurement log, from `ev.logFrom` on, replayed incrementally to the
 * quoted application PCR (`quotedPcr`, null when the quote did not verify: skipped).
 */
export function replayStep(
  state: AgentAttest,
  ev: Evidence,
  quotedPcr: Uint8Array | null,
  ci: ClockInfo | undefined,
): Replayed {
  const unchanged: Omit<Replayed, 'check'> = {
    ima: state.ima,
    bound: state.bound,
    boundBoot: state.boundBoot ?? [],
    accepted: [],
  };
  if (quotedPcr === null || ci === undefined)
    return {
      check: { name: 'log.replay', status: 'skipped', detail: 'no verified PCR value to replay to' },
      ...unchanged,
    };
  try {
    const entries = parseBinaryLog(ev.log, { firstIndex: ev.logFrom });
    return replay(state, ev.logFrom, entries, quotedPcr, ci.resetCount, unchanged);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return {
      check: { name: 'log.replay', status: 'fail', code: err.code, detail: err.message },
      ...unchanged,
    };
  }
}

function replay(
  state: AgentAttest,
  from: number,
  entries: ImaEntry[],
  quoted: Uint8Array,
  resetCount: number,
  unchanged: Omit<Replayed, 'check'>,
): Replayed {
  const start = state.ima ?? initialImaState('sha256', state.pcr, resetCount);
  const r = advanceIma(start, { startIndex: from, entries, quotedPcr: quoted, resetCount });
  const c = r.checks.find((x) => x.name === 'ima.replay')!;
  if (c.status !== 'pass')
    return {
      check: { name: 'log.replay', status: 'fail', code: c.code ?? 'IMA_PCR_MISMATCH', detail: c.detail },
      ...unchanged,
    };
  const bad = r.checks.find((x) => x.status === 'fail');
  if (bad) return { check: { ...bad, name: 'log.replay' }, ...unchanged };
  const boot = new Set(resetCount === state.ima?.resetCount ? (state.boundBoot ?? []) : []);
  for (const e of r.accepted) {
    const key = e.extra;
    if (e.path !== AGENT_KEY_EVENT || e.template !== 'ima-buf' || key === null || key.length !== 32) continue;
    if (toHex(sha256(key)) !== e.digest) continue;
    boot.add(agentKeyId(key));
  }
  const boundBoot = [...boot];
  return {
    check: { name: 'log.replay', status: 'pass', detail: c.detail },
    ima: r.state,
    accepted: r.accepted,
    boundBoot,
    bound: [...new Set([...state.bound, ...boundBoot])],
  };
}

/**
 * `checkpoint.consistent`: the checkpoint extends the previous quoted one of the agent by the
 * posted consistency proof; the first one of the agent or of a new log run passes as such;
 * a log run refused by viewRun fails with its refusal.
 */
export function consistencyCheck(
  state: AgentAttest,
  ev: Evidence,
  cp: Checkpoint | null,
  logRun: RunView | undefined,
  keys: readonly KeyRecord[],
  origin: string,
): Check {
  const name = 'checkpoint.consistent';
  if (cp === null) return { name, status: 'skipped', detail: 'no verified checkpoint' };
  if (logRun?.refusal) return logRun.refusal;
  // Never checked against the run before: a new run does not extend it (docs/evidence.md).
  if (logRun?.fresh)
    return {
      name,
      status: 'pass',
      detail: `the first quoted checkpoint of log run ${logRun.run?.run} (from seq ${logRun.run?.base ?? 0})`,
    };
  const last = state.checkpoint;
  if (last === null) return { name, status: 'pass', detail: 'the first quoted checkpoint of this agent' };
  // The previous quoted note, opened again as signed (with its extension lines).
  const prev = reopenQuoted(last.note, keys.find((k) => k.keyId === last.keyId)?.key, origin);
  let r: { ok: boolean; code?: Check['code']; detail: string };
  try {
    r = prev.ok
      ? verifyCheckpointExtends(prev.checkpoint, cp, decodeConsistencyProof(ev.consistency))
      : { ok: false, code: prev.code, detail: `the previous quoted checkpoint: ${prev.detail}` };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    r = { ok: false, code: err.code, detail: err.message };
  }
  return r.ok
    ? { name, status: 'pass', detail: `size ${last.size} -> ${cp.size}: ${r.detail}` }
    : { name, status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
}
