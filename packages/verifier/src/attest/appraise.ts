import { agentKeyId, type Check, CoreError, sha256, toBase64, toHex } from '@tmb/core';
import type { BootPolicy } from '@tmb/core/boot';
import { type HostSegment, type KernelRefs, quoteQualifyingData } from '@tmb/core/host';
import { advanceIma, type ImaEntry, initialImaState, parseBinaryLog } from '@tmb/core/ima';
import {
  type Checkpoint,
  decodeConsistencyProof,
  ed25519NoteVerifier,
  openCheckpoint,
  verifyCheckpointExtends,
} from '@tmb/core/log';
import { parsePcrsFile, verifyQuote } from '@tmb/core/tpm';
import type { KeyRecord } from '../store/types.ts';
import type { ExtensionCheck } from '../telemetry/extension.ts';
import { keyBoundCheck } from './ckey.ts';
import { appraiseKernel, KERNEL_PCR, type KernelEvidence } from './kernel.ts';
import { reopenQuoted, telemetryChainCheck } from './quoted.ts';
import { type RunView, receiptsCheck } from './runs.ts';
import type { AgentAttest } from './state.ts';

/** The ima-buf event whose buffer is a raw agent key (agent measure/log.ts AGENT_KEY_EVENT). */
export const AGENT_KEY_EVENT = 'tmb.agent-key';

/** Evidence as posted, decoded (docs/evidence.md). Every field is untrusted. */
export interface Evidence extends KernelEvidence {
  nonce: string;
  note: string;
  attest: Uint8Array;
  signature: Uint8Array;
  pcrs: Uint8Array;
  logFrom: number;
  log: Uint8Array;
  consistency: unknown;
}

const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
const failed = (name: string, c: Check): Check => ({ ...c, name });

/**
 * Checks of the host that an accepted quote records rather than refuses on: a host that ran
 * something outside the policy still has its checkpoint quoted, and the receipts it covers
 * fail (docs/evidence.md, "Segments"). A kernel log that does not replay is refused.
 */
const RECORDED = new Set(['host.integrity', 'host.boot', 'host.engine', 'host.agent', 'telemetry.tool']);

/** The first failed check among `names` of verifyQuote's, renamed, else a pass. */
function pick(all: Check[], names: string[], name: string, ok: string): Check {
  const f = all.find((c) => names.includes(c.name) && c.status === 'fail');
  return f ? failed(name, f) : pass(name, ok);
}

/**
 * Appraises one round of evidence against the agent's state. Pure but for the nonce verdict
 * passed in. Returns the named checks (docs/result.md) and, when every check passed, the next state.
 */
export function appraiseEvidence(o: {
  state: AgentAttest;
  ev: Evidence;
  nonceRefusal: { code: 'NONCE_UNKNOWN' | 'NONCE_REUSED'; detail: string } | undefined;
  keys: KeyRecord[];
  origin: string;
  /** The verifier's own tree of the agent's receipts, grown to the checkpoint's size if it can be. */
  treeRoot: (size: number) => Uint8Array | null;
  /** The checkpoint's log run against the agent's (runs.ts viewRun); absent: run 0 throughout. */
  logRun?: RunView;
  /** Checks a `tmb-telemetry` line against the telemetry received (checkTelemetryExtension). */
  telemetry?: (line: string) => ExtensionCheck;
  /** Reference values kernel entries are allowed by. Default none: every entry after entry 1 fails. */
  refs?: KernelRefs;
  /** The measured-boot policy handed to the boot log appraisal. */
  bootPolicy?: BootPolicy | null;
}): { checks: Check[]; next: AgentAttest | null; accepted: ImaEntry[]; segment: HostSegment | null } {
  const { state, ev } = o;
  const checks: Check[] = [];
  const logRun = o.logRun;
  // Leaf i of the checkpoint's run is the receipt with seq base + i (docs/proofs.md, "Log runs").
  const base = logRun?.run?.base ?? 0;
  // Checkpoint signature: by a key enrolled for this agent, under the agent's origin.
  // Newest keys first: the signer is almost always this start's key.
  const keys = [...o.keys].sort((a, b) => b.enrolledAt - a.enrolledAt);
  let opened = openCheckpoint(ev.note, [], o.origin);
  let signer: KeyRecord | undefined;
  for (const k of keys) {
    const r = openCheckpoint(ev.note, [ed25519NoteVerifier(o.origin, k.key)], o.origin);
    if (r.ok || r.code !== 'NOTE_NO_KNOWN_SIGNER') {
      opened = r;
      if (r.ok) signer = k;
      break;
    }
    opened = r;
  }
  let cp: Checkpoint | null = null;
  if (opened.ok) {
    cp = opened.checkpoint;
    checks.push(
      pass(
        'checkpoint.signature',
        `checkpoint of size ${cp.size} signed by agent key ${signer?.keyId.slice(0, 16) ?? '?'}…`,
      ),
    );
  } else
    checks.push({ name: 'checkpoint.signature', status: 'fail', code: opened.code, detail: opened.detail });

  const qualifying = (() => {
    try {
      return quoteQualifyingData(Buffer.from(ev.nonce, 'hex'), ev.note, {
        telemetryTool: ev.telemetryTool,
        upstream: ev.upstream,
      });
    } catch {
      return new Uint8Array(32);
    }
  })();
  const q = verifyQuote({
    attest: ev.attest,
    signature: ev.signature,
    akPublic: fromBase64Url(state.akPublic),
    akName: Buffer.from(state.akName, 'hex'),
    pcrs: ev.pcrs,
    requirePcrs: true,
    expectedQualifyingData: qualifying,
    ...(state.clock ? { previousClock: { ...state.clock, clock: BigInt(state.clock.clock) } } : {}),
  });
  checks.push(
    pick(
      q.checks,
      [
        'tpm.ak.public',
        'tpm.ak.enrolled',
        'tpm.ak.attributes',
        'tpm.quote.format',
        'tpm.quote.magic',
        'tpm.quote.type',
        'tpm.quote.signature',
      ],
      'quote.signature',
      `quote signed by the activated AK ${state.akName.slice(0, 16)}…`,
    ),
  );
  checks.push(
    o.nonceRefusal
      ? { name: 'quote.nonce', status: 'fail', code: o.nonceRefusal.code, detail: o.nonceRefusal.detail }
      : pick(
          q.checks,
          ['tpm.quote.nonce'],
          'quote.nonce',
          'qualifying data = SHA-256(fresh nonce ‖ checkpoint)',
        ),
  );
  const ci = q.attest?.clockInfo;
  checks.push(
    pick(
      q.checks,
      ['tpm.quote.safe', 'tpm.quote.clock'],
      'quote.clock',
      ci ? `clock ${ci.clock}, resetCount ${ci.resetCount}, restartCount ${ci.restartCount}` : 'no clock',
    ),
  );
  // PCR digest, and PCRs 0-10 and the application PCR among the quoted ones (sha256 bank).
  let quotedPcr: Uint8Array | null = null;
  const quoted = new Map<number, Uint8Array>();
  let pcrCheck = pick(
    q.checks,
    ['tpm.quote.pcrs'],
    'quote.pcr_digest',
    `PCR ${state.pcr} quoted, digest matches`,
  );
  if (pcrCheck.status === 'pass') {
    try {
      const values = parsePcrsFile(ev.pcrs);
      let i = 0;
      for (const bank of values.selection)
        for (const p of bank.pcrs) {
          const d = values.digests[i];
          if (bank.hash === 'sha256' && d !== undefined) quoted.set(p, d);
          i++;
        }
    } catch {
      quoted.clear();
    }
    quotedPcr = quoted.get(state.pcr) ?? null;
    const missing = [...Array.from({ length: KERNEL_PCR + 1 }, (_, i) => i), state.pcr].filter(
      (p) => !quoted.has(p),
    );
    if (missing.length > 0) {
      quotedPcr = null;
      pcrCheck = {
        name: 'quote.pcr_digest',
        status: 'fail',
        code: 'QUOTE_PCR_SELECTION_MISMATCH',
        detail: `the quote must select sha256 PCRs 0-${KERNEL_PCR} and ${state.pcr}; it lacks ${missing.join(', ')}`,
      };
    }
  }
  checks.push(pcrCheck);

  // Measurement log replay to the quoted application PCR, and the keys bound in it.
  let nextIma = state.ima;
  let bound = state.bound;
  let boundBoot = state.boundBoot ?? [];
  let accepted: ImaEntry[] = [];
  if (quotedPcr !== null && ci !== undefined) {
    let entries: ImaEntry[] | null = null;
    try {
      entries = parseBinaryLog(ev.log, { firstIndex: ev.logFrom });
      checks.push(
        replayCheck(state, ev.logFrom, entries, quotedPcr, ci.resetCount, (s, boot, covered) => {
          nextIma = s;
          accepted = covered;
          boundBoot = boot;
          bound = [...new Set([...state.bound, ...boot])];
        }),
      );
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      checks.push({ name: 'log.replay', status: 'fail', code: err.code, detail: err.message });
    }
  } else checks.push({ name: 'log.replay', status: 'skipped', detail: 'no verified PCR value to replay to' });

  // The checkpoint must be co-signed by a TPM-held key the AK certified for its receipt key, in
  // this boot (ckey.ts). A tmb.agent-key event in the replayed log is informational only.
  const keyBound = keyBoundCheck(state.checkpointKeys, ev.note, o.origin, signer?.keyId, ci?.resetCount);
  checks.push(keyBound.check);

  // The kernel's IMA log and the boot log, replayed to the quoted PCRs 10 and 0-9.
  let kernel: ReturnType<typeof appraiseKernel> | null = null;
  if (quotedPcr !== null && ci !== undefined && cp !== null) {
    kernel = appraiseKernel({
      prev: state.kernel ?? null,
      ev,
      pcrs: quoted,
      resetCount: ci.resetCount,
      size: base + cp.size,
      refs: o.refs ?? { policy: null, registry: null },
      bootPolicy: o.bootPolicy,
    });
    checks.push(...kernel.checks);
  } else
    checks.push(
      {
        name: 'host.integrity',
        status: 'skipped',
        detail: 'no verified PCR 10 and checkpoint to appraise against',
      },
      { name: 'host.boot', status: 'skipped', detail: 'no verified PCRs 0-9 to appraise against' },
    );

  // Consistency with the previous quoted checkpoint.
  if (cp === null)
    checks.push({ name: 'checkpoint.consistent', status: 'skipped', detail: 'no verified checkpoint' });
  else if (logRun?.refusal) checks.push(logRun.refusal);
  else if (logRun?.fresh)
    // Never checked against the run before: a new run does not extend it (docs/evidence.md).
    checks.push(
      pass(
        'checkpoint.consistent',
        `the first quoted checkpoint of log run ${logRun.run?.run} (from seq ${base})`,
      ),
    );
  else if (state.checkpoint === null)
    checks.push(pass('checkpoint.consistent', 'the first quoted checkpoint of this agent'));
  else {
    // The previous quoted note, opened again as signed (with its extension lines).
    const last = state.checkpoint;
    const prev = reopenQuoted(last.note, keys.find((k) => k.keyId === last.keyId)?.key, o.origin);
    let r: { ok: boolean; code?: Check['code']; detail: string };
    try {
      r = prev.ok
        ? verifyCheckpointExtends(prev.checkpoint, cp, decodeConsistencyProof(ev.consistency))
        : { ok: false, code: prev.code, detail: `the previous quoted checkpoint: ${prev.detail}` };
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      r = { ok: false, code: err.code, detail: err.message };
    }
    checks.push(
      r.ok
        ? pass('checkpoint.consistent', `size ${last.size} -> ${cp.size}: ${r.detail}`)
        : {
            name: 'checkpoint.consistent',
            status: 'fail',
            ...(r.code ? { code: r.code } : {}),
            detail: r.detail,
          },
    );
  }
  // The root over the receipts this verifier holds.
  // The root over the receipts this verifier holds, in the checkpoint's log run (runs.ts).
  if (cp !== null) {
    checks.push(receiptsCheck(cp, o.treeRoot(cp.size), logRun));
    // The telemetry chain head the checkpoint commits to, against the batches received.
    checks.push(telemetryChainCheck(cp.extensions, o.telemetry));
  }
  // Every check must pass; telemetry.chain may be skipped (no telemetry line); the host's
  // own checks are recorded in the segment, unless its kernel log does not replay.
  const refused = checks.some(
    (c) =>
      c.status !== 'pass' &&
      !(c.name === 'telemetry.chain' && c.status === 'skipped') &&
      !RECORDED.has(c.name),
  );
  if (refused || kernel === null || kernel.refuse || cp === null || signer === undefined || ci === undefined)
    return { checks, next: null, accepted: [], segment: null };
  return {
    checks,
    accepted,
    segment: kernel.segment,
    next: {
      ...state,
      clock: {
        clock: ci.clock.toString(),
        resetCount: ci.resetCount,
        restartCount: ci.restartCount,
        safe: ci.safe,
      },
      ima: nextIma,
      kernel: kernel.next,
      bound,
      boundBoot,
      checkpoint: {
        note: ev.note,
        size: cp.size,
        root: toBase64(cp.root),
        keyId: signer.keyId,
        ...(keyBound.key === null ? {} : { tpmKeyName: keyBound.key.keyName }),
      },
      checks,
      quote: {
        attest: toBase64Url(ev.attest),
        signature: toBase64Url(ev.signature),
        pcrs: toBase64Url(ev.pcrs),
        nonce: ev.nonce,
      },
      acceptedAt: Date.now(),
      ...(logRun?.run && (logRun.run.run > 0 || state.run !== undefined) ? { run: logRun.run } : {}),
      ...(logRun?.fresh && logRun.ended ? { endedRuns: [...(state.endedRuns ?? []), logRun.ended] } : {}),
    },
  };
}

function replayCheck(
  state: AgentAttest,
  from: number,
  entries: ImaEntry[],
  quoted: Uint8Array,
  resetCount: number,
  commit: (s: AgentAttest['ima'], boundBoot: string[], accepted: ImaEntry[]) => void,
): Check {
  const start = state.ima ?? initialImaState('sha256', state.pcr, resetCount);
  const r = advanceIma(start, { startIndex: from, entries, quotedPcr: quoted, resetCount });
  const c = r.checks.find((x) => x.name === 'ima.replay')!;
  if (c.status !== 'pass')
    return { name: 'log.replay', status: 'fail', code: c.code ?? 'IMA_PCR_MISMATCH', detail: c.detail };
  const bad = r.checks.find((x) => x.status === 'fail');
  if (bad) return failed('log.replay', bad);
  const bound = new Set(resetCount === state.ima?.resetCount ? (state.boundBoot ?? []) : []);
  for (const e of r.accepted) {
    const key = e.extra;
    if (e.path !== AGENT_KEY_EVENT || e.template !== 'ima-buf' || key === null || key.length !== 32) continue;
    if (toHex(sha256(key)) !== e.digest) continue;
    bound.add(agentKeyId(key));
  }
  commit(r.state, [...bound], r.accepted);
  return pass('log.replay', c.detail);
}

function fromBase64Url(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

function toBase64Url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}
