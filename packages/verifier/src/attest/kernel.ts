import { type Check, CoreError, toHex } from '@tmb/core';
import type { BootPolicy } from '@tmb/core/boot';
import {
  compileKernelRefs,
  emptyKernelFacts,
  foldKernelColumns,
  type HostSegment,
  type KernelFacts,
  type KernelLookups,
  type KernelRefs,
  type SegmentCheck,
  segmentOf,
  type UpstreamEvidence,
} from '@tmb/core/host';
import { advanceImaColumns, type ImaState, initialImaState, parseBinaryColumns } from '@tmb/core/ima';
import { appraiseBoot, bootAggregateOf } from './boot.ts';

/** The kernel's IMA PCR. */
export const KERNEL_PCR = 10;

/** The boot log appraisal kept for one boot (the log itself is not kept). */
export interface BootFacts {
  kind: 'measured' | 'simulated';
  secureBoot: boolean | null;
  check: SegmentCheck;
  /** Hex quoted PCRs 0-9 the log was appraised against: a later quote must show the same. */
  pcrs: string[];
}

/**
 * What the verifier keeps per agent about the current boot's kernel (AgentAttest.kernel):
 * incremental replay of the kernel log into PCR 10 (separate from the application PCR's), the
 * facts folded from it, and the boot log's appraisal. Plain JSON, bounded.
 */
export interface KernelBoot {
  resetCount: number;
  ima: ImaState;
  facts: KernelFacts;
  boot: BootFacts | null;
}

/** Evidence v2's kernel members, decoded (docs/evidence.md). Untrusted. */
export interface KernelEvidence {
  kernel: { from: number; entries: Uint8Array } | null;
  boot: { log: Uint8Array } | null;
  telemetryTool: string | null;
  /** The agent's upstream (docs/upstream.md); null or left out: none was sent. */
  upstream?: UpstreamEvidence | null;
}

/** The outcome of one quote's kernel appraisal. */
export interface KernelAppraisal {
  /** host.integrity, host.boot, and with a registry host.engine, host.agent, telemetry.tool. */
  checks: Check[];
  /** The kernel log does not replay to the quote (or does not parse): refuse the evidence. */
  refuse: boolean;
  next: KernelBoot | null;
  segment: HostSegment;
}

/** What appraiseKernel is given: the boot's state so far and one quote's kernel evidence. */
export interface KernelInput {
  prev: KernelBoot | null;
  ev: KernelEvidence;
  /** Quoted sha256 PCRs (0-10 at least: checked by the caller). */
  pcrs: ReadonlyMap<number, Uint8Array>;
  resetCount: number;
  size: number;
  refs: KernelRefs;
  bootPolicy?: BootPolicy | null | undefined;
}

/**
 * Appraises the kernel's IMA log and the boot log of one quote (pure). The entries replay to
 * the quoted PCR 10 with advanceIma (entries past the quote wait for the next one; a new
 * resetCount starts over from entry 0); those covered are folded into the boot's facts
 * (foldKernelColumns, the same rule as foldKernel); the segment is what the quote established (docs/evidence.md, "Segments").
 */
export function appraiseKernel(o: KernelInput): KernelAppraisal {
  const { ev, resetCount } = o;
  const prev = o.prev !== null && o.prev.resetCount === resetCount ? o.prev : null;
  const { refuse, replay, ...r } =
    ev.kernel === null ? { next: null, refuse: false, replay: null } : replayKernel(o, ev.kernel, prev);
  let next = r.next;
  // The boot log: appraised once per boot; later quotes must show the same PCRs 0-9.
  const now = Array.from({ length: 10 }, (_, i) => toHex(o.pcrs.get(i) ?? new Uint8Array(32)));
  const boot = bootFacts(o, next?.boot ?? null, now);
  if (next !== null) next = { ...next, boot };
  const bootCheck = bootOf(boot, now);
  const facts = ev.kernel === null ? null : (next?.facts ?? emptyKernelFacts());
  const segment = segmentOf({
    size: o.size,
    resetCount,
    facts,
    boot: {
      ...bootCheck,
      kind: boot === null ? 'absent' : boot.kind,
      secureBoot: boot?.secureBoot ?? null,
    },
    registry: o.refs.registry,
    upstream: ev.upstream ?? null,
  });
  if (replay !== null) segment.integrity = replay;
  const checks: Check[] = [
    { name: 'host.integrity', ...segment.integrity },
    { name: 'host.boot', ...segment.boot },
  ];
  if (o.refs.registry !== null)
    checks.push(
      { name: 'host.engine', ...segment.engine },
      { name: 'host.agent', ...segment.agent },
      { name: 'telemetry.tool', ...segment.tool },
    );
  return { checks, refuse, next: refuse ? o.prev : next, segment };
}

/**
 * The kernel log replayed to the quoted PCR 10 from the previous quote's state, its covered
 * entries folded into the boot's facts. A log that does not parse or replay refuses the
 * evidence (`replay`: the failed host.integrity), and the boot's state stays `prev`.
 */
function replayKernel(
  o: KernelInput,
  kernel: NonNullable<KernelEvidence['kernel']>,
  prev: KernelBoot | null,
): { next: KernelBoot | null; refuse: boolean; replay: SegmentCheck | null } {
  const { resetCount } = o;
  const start = o.prev?.ima ?? initialImaState('sha256', KERNEL_PCR, resetCount);
  try {
    // Columns, not ImaEntry objects: no object per entry (docs/ima.md, "Columns").
    const columns = parseBinaryColumns(kernel.entries, { firstIndex: kernel.from });
    const digests: string[] = []; // the replay's sha256 template digests, reused by the fold
    // The agent reads the kernel log after quoting: a quoted PCR 10 that no prefix of the
    // entries reaches means an altered log, not a race, and fails at once (Keylime's
    // one-round grace would accept the quote on the previous quote's facts).
    const r = advanceImaColumns(
      start,
      { startIndex: kernel.from, columns, quotedPcr: o.pcrs.get(KERNEL_PCR)!, resetCount },
      // The logged SHA-1 template hashes too: an altered byte anywhere in a covered entry
      // fails (IMA_TEMPLATE_HASH_MISMATCH), not only the bytes the sha256 chain binds.
      { maxUnmatchedRounds: 0, checkTemplateHash: true, digests },
    );
    const bad = r.checks.find((c) => c.status === 'fail');
    if (bad)
      return {
        next: prev,
        refuse: true,
        replay: {
          status: 'fail',
          ...(bad.code ? { code: bad.code } : {}),
          detail: `kernel log: ${bad.detail}`,
        },
      };
    const facts = foldKernelColumns(
      prev?.facts ?? emptyKernelFacts(),
      columns,
      r.covered,
      lookupsOf(o.refs),
      {
        bootAggregate: toHex(bootAggregateOf(o.pcrs)),
        toolPath: o.ev.telemetryTool,
        pcrIndex: KERNEL_PCR,
        digests,
      },
    );
    return {
      next: { resetCount, ima: r.state, facts, boot: prev?.boot ?? null },
      refuse: false,
      replay: null,
    };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return {
      next: prev,
      refuse: true,
      replay: { status: 'fail', code: err.code, detail: `kernel log: ${err.message}` },
    };
  }
}

/**
 * The boot log's appraisal for this boot: kept from an earlier quote once it passed, else
 * appraised from this evidence's log against the quoted PCRs 0-9 (`now`, hex) when one came.
 */
function bootFacts(o: KernelInput, kept: BootFacts | null, now: string[]): BootFacts | null {
  if (o.ev.boot === null || (kept !== null && kept.check.status === 'pass')) return kept;
  const b = appraiseBoot(o.ev.boot.log, o.pcrs, o.bootPolicy);
  const { name: _n, ...check } = b.check;
  return { kind: b.simulated ? 'simulated' : 'measured', secureBoot: b.secureBoot, check, pcrs: now };
}

// The compiled lookups, once per policy and registry objects (the verifier's, held for its
// lifetime), not once per quote: callers build a fresh KernelRefs per request around them.
const NONE = {};
const compiled = new WeakMap<object, WeakMap<object, KernelLookups>>();

/**
 * The compiled lookups of a verifier's reference values (a 300,000-digest policy takes about a
 * second to compile): the verifier calls it once at start, so no agent's first quote pays it.
 */
export function lookupsOf(refs: KernelRefs): KernelLookups {
  const byPolicy = compiled.get(refs.policy ?? NONE) ?? new WeakMap<object, KernelLookups>();
  compiled.set(refs.policy ?? NONE, byPolicy);
  const known = byPolicy.get(refs.registry ?? NONE);
  if (known !== undefined) return known;
  const l = compileKernelRefs(refs);
  byPolicy.set(refs.registry ?? NONE, l);
  return l;
}

function bootOf(boot: BootFacts | null, now: string[]): SegmentCheck {
  if (boot === null)
    return {
      status: 'fail',
      code: 'BOOT_LOG_ABSENT',
      detail: 'no UEFI event log of this boot reached the verifier: PCRs 0-9 are unexplained',
    };
  if (boot.check.status !== 'pass') return boot.check;
  const changed = now.findIndex((h, i) => h !== boot.pcrs[i]);
  if (changed >= 0)
    return {
      status: 'fail',
      code: 'BOOT_PCRS_CHANGED',
      detail: `PCR ${changed} changed since the boot log was appraised: something extended it after boot`,
    };
  return boot.check;
}
