import { type Check, toBase64 } from '@tmb/core';
import type { BootPolicy } from '@tmb/core/boot';
import type { HostSegment, KernelRefs } from '@tmb/core/host';
import type { ImaEntry } from '@tmb/core/ima';
import type { Checkpoint } from '@tmb/core/log';
import type { ClockInfo } from '@tmb/core/tpm';
import { keyBoundCheck } from '../attest/ckey.ts';
import { appraiseKernel, type KernelEvidence } from '../attest/kernel.ts';
import { telemetryChainCheck } from '../attest/quoted.ts';
import { type RunView, receiptsCheck } from '../attest/runs.ts';
import type { AgentAttest } from '../attest/state.ts';
import type { KeyRecord } from '../store/types.ts';
import type { ExtensionCheck } from '../telemetry/extension.ts';
import { consistencyCheck, type Replayed, replayStep } from './log.ts';
import { type NonceRefusal, openSigned, quoteChecks } from './quote.ts';

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

/** What appraiseEvidence is given besides the evidence. */
export interface EvidenceInput {
  state: AgentAttest;
  ev: Evidence;
  nonceRefusal: NonceRefusal;
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
  /** The clock that dates an accepted state (`acceptedAt`), Unix ms. Default Date.now. */
  now?: () => number;
}

/** appraiseEvidence's answer: the named checks, and when every one passed, the next state. */
export interface EvidenceAppraisal {
  checks: Check[];
  next: AgentAttest | null;
  accepted: ImaEntry[];
  segment: HostSegment | null;
}

/**
 * Checks of the host that an accepted quote records rather than refuses on: a host that ran
 * something outside the policy still has its checkpoint quoted, and the receipts it covers
 * fail (docs/evidence.md, "Segments"). A kernel log that does not replay is refused.
 */
const RECORDED = new Set(['host.integrity', 'host.boot', 'host.engine', 'host.agent', 'telemetry.tool']);

/**
 * Appraises one round of evidence against the agent's state. Pure but for the nonce verdict
 * passed in. Returns the named checks (docs/result.md), in this order: checkpoint.signature,
 * the quote's (quote.ts), log.replay, key.bound, the kernel's (host.integrity, host.boot, ...),
 * checkpoint.consistent, checkpoint.receipts and telemetry.chain; and, when every check passed,
 * the next state.
 */
export function appraiseEvidence(o: EvidenceInput): EvidenceAppraisal {
  const { state, ev } = o;
  const signed = openSigned(ev.note, o.keys, o.origin);
  const { cp, signer } = signed;
  const quote = quoteChecks(state, ev, o.nonceRefusal);
  const ci = quote.clock;
  const replay = replayStep(state, ev, quote.quotedPcr, ci);
  // The checkpoint must be co-signed by a TPM-held key the AK certified for its receipt key, in
  // this boot (ckey.ts). A tmb.agent-key event in the replayed log is informational only.
  const keyBound = keyBoundCheck(state.checkpointKeys, ev.note, o.origin, signer?.keyId, ci?.resetCount);
  const kernel = kernelStep(o, quote.quoted, quote.quotedPcr, ci, cp);
  const checks: Check[] = [
    signed.check,
    ...quote.checks,
    replay.check,
    keyBound.check,
    ...kernel.checks,
    consistencyCheck(state, ev, cp, o.logRun, signed.keys, o.origin),
  ];
  if (cp !== null) {
    // The root over the receipts this verifier holds, in the checkpoint's log run (runs.ts).
    checks.push(receiptsCheck(cp, o.treeRoot(cp.size), o.logRun));
    // The telemetry chain head the checkpoint commits to, against the batches received.
    checks.push(telemetryChainCheck(cp.extensions, o.telemetry));
  }
  const k = kernel.appraisal;
  if (refused(checks) || k === null || k.refuse || cp === null || signer === undefined || ci === undefined)
    return { checks, next: null, accepted: [], segment: null };
  return {
    checks,
    accepted: replay.accepted,
    segment: k.segment,
    next: nextState(o, checks, { cp, signer, ci, replay, kernel: k.next, tpmKey: keyBound.key?.keyName }),
  };
}

/**
 * Whether the evidence is refused: every check must pass; telemetry.chain may be skipped (no
 * telemetry line); the host's own checks are recorded in the segment (RECORDED).
 */
function refused(checks: readonly Check[]): boolean {
  return checks.some(
    (c) =>
      c.status !== 'pass' &&
      !(c.name === 'telemetry.chain' && c.status === 'skipped') &&
      !RECORDED.has(c.name),
  );
}

/** The kernel's IMA log and the boot log, replayed to the quoted PCRs 10 and 0-9 (kernel.ts). */
function kernelStep(
  o: EvidenceInput,
  quoted: ReadonlyMap<number, Uint8Array>,
  quotedPcr: Uint8Array | null,
  ci: ClockInfo | undefined,
  cp: Checkpoint | null,
): { checks: Check[]; appraisal: ReturnType<typeof appraiseKernel> | null } {
  if (quotedPcr === null || ci === undefined || cp === null)
    return {
      checks: [
        {
          name: 'host.integrity',
          status: 'skipped',
          detail: 'no verified PCR 10 and checkpoint to appraise against',
        },
        { name: 'host.boot', status: 'skipped', detail: 'no verified PCRs 0-9 to appraise against' },
      ],
      appraisal: null,
    };
  // Leaf i of the checkpoint's run is the receipt with seq base + i (docs/proofs.md, "Log runs").
  const base = o.logRun?.run?.base ?? 0;
  const appraisal = appraiseKernel({
    prev: o.state.kernel ?? null,
    ev: o.ev,
    pcrs: quoted,
    resetCount: ci.resetCount,
    size: base + cp.size,
    refs: o.refs ?? { policy: null, registry: null },
    bootPolicy: o.bootPolicy,
  });
  return { checks: appraisal.checks, appraisal };
}

/** The agent's state once the evidence is accepted: its clock, replays, checkpoint and quote. */
function nextState(
  o: EvidenceInput,
  checks: Check[],
  a: {
    cp: Checkpoint;
    signer: KeyRecord;
    ci: ClockInfo;
    replay: Replayed;
    kernel: AgentAttest['kernel'];
    tpmKey: string | undefined;
  },
): AgentAttest {
  const { state, ev, logRun } = o;
  return {
    ...state,
    clock: {
      clock: a.ci.clock.toString(),
      resetCount: a.ci.resetCount,
      restartCount: a.ci.restartCount,
      safe: a.ci.safe,
    },
    ima: a.replay.ima,
    kernel: a.kernel,
    bound: a.replay.bound,
    boundBoot: a.replay.boundBoot,
    checkpoint: {
      note: ev.note,
      size: a.cp.size,
      root: toBase64(a.cp.root),
      keyId: a.signer.keyId,
      ...(a.tpmKey === undefined ? {} : { tpmKeyName: a.tpmKey }),
    },
    checks,
    quote: {
      attest: b64url(ev.attest),
      signature: b64url(ev.signature),
      pcrs: b64url(ev.pcrs),
      nonce: ev.nonce,
    },
    acceptedAt: (o.now ?? Date.now)(),
    ...(logRun?.run && (logRun.run.run > 0 || state.run !== undefined) ? { run: logRun.run } : {}),
    ...(logRun?.fresh && logRun.ended ? { endedRuns: [...(state.endedRuns ?? []), logRun.ended] } : {}),
  };
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}
