import type { CompiledRegistry } from '../registry/types.ts';
import { AGENT_ENTRY_FILE } from './fold.ts';
import type { HostSegment, HostSegments, HostSummary, KernelFacts, SegmentCheck } from './types.ts';
import { type UpstreamEvidence, upstreamSegment } from './upstream.ts';

/** Most segments kept per agent; past it the oldest is dropped and its receipts are `skipped`. */
export const MAX_SEGMENTS = 256;

/** What one quote established beside the kernel facts. */
export interface SegmentInput {
  /** The quoted checkpoint's size. */
  size: number;
  resetCount: number;
  /** The kernel facts after folding this quote's entries; null when the agent sent no kernel log. */
  facts: KernelFacts | null;
  /** `host.boot` for this quote (from the boot log appraisal of this boot). */
  boot: SegmentCheck & { kind: HostSummary['boot']; secureBoot: boolean | null };
  registry: CompiledRegistry | null;
  /** The evidence's `upstream` (null or left out: none was sent). */
  upstream?: UpstreamEvidence | null;
}

const pass = (detail: string): SegmentCheck => ({ status: 'pass', detail });
const skipped = (detail: string): SegmentCheck => ({ status: 'skipped', detail });

/**
 * The segment one accepted quote establishes: host.integrity, host.boot, host.engine,
 * host.agent and telemetry.tool as judged from the kernel facts, the weights read, and what
 * host.upstream needs of the agent's upstream (upstreamSegment). Details
 * carry no counts that grow with every quote, so that an unchanged host gives an equal segment.
 */
export function segmentOf(i: SegmentInput): HostSegment {
  const f = i.facts;
  const host: HostSummary = {
    kernel: f === null ? 'absent' : f.kind,
    boot: i.boot.kind,
    secureBoot: i.boot.secureBoot,
  };
  const { kind: _k, secureBoot: _s, ...boot } = i.boot;
  const none = skipped('no kernel IMA log: nothing was measured by the kernel');
  return {
    size: i.size,
    resetCount: i.resetCount,
    host,
    integrity: integrityOf(f),
    boot,
    engine: f === null ? none : engineOf(f, i.registry),
    agent: f === null ? none : agentOf(f, i.registry),
    tool: f === null ? none : toolOf(f, i.registry),
    weights: f === null ? [] : [...f.weights],
    upstream: upstreamSegment(i.upstream ?? null, f),
  };
}

function integrityOf(f: KernelFacts | null): SegmentCheck {
  if (f === null)
    return {
      status: 'fail',
      code: 'KERNEL_LOG_ABSENT',
      detail: 'the agent sent no kernel IMA log: nothing shows what the host ran',
    };
  if (f.failure !== null)
    return {
      status: 'fail',
      code: f.failure.code,
      detail: `kernel entry ${f.failure.detail}; the host is untrusted from that entry until a reboot`,
    };
  if (!f.aggregate) return skipped('no kernel entry has been covered by a quote yet');
  return pass(
    `every kernel ${f.kind === 'simulated' ? '(simulated) ' : ''}IMA entry since boot replays to the quoted PCR 10 and is allowed by the runtime policy or the registry; boot_aggregate matches the quoted PCRs 0-9`,
  );
}

function engineOf(f: KernelFacts, reg: CompiledRegistry | null): SegmentCheck {
  if (reg === null || Object.keys(reg.registry.engines).length === 0)
    return skipped('the registry lists no engines');
  if (f.engines.length > 0)
    return pass(`the kernel measured an allowed executable of ${[...f.engines].sort().join(', ')}`);
  return {
    status: 'fail',
    code: 'ENGINE_NOT_ALLOWED',
    detail: 'the kernel log shows no allowed engine executable since boot',
  };
}

function agentOf(f: KernelFacts, reg: CompiledRegistry | null): SegmentCheck {
  if (reg === null || reg.agentFiles.size === 0)
    return skipped('the registry describes no agent build by its files');
  if (f.agentFailure !== null)
    return {
      status: 'fail',
      code: 'AGENT_BUILD_NOT_ALLOWED',
      detail: `kernel entry ${f.agentFailure.detail}`,
    };
  if (!f.agentEntry)
    return {
      status: 'fail',
      code: 'AGENT_BUILD_NOT_ALLOWED',
      detail: `the kernel log shows no allowed ${AGENT_ENTRY_FILE}: the agent that signs was not seen to run`,
    };
  return pass(
    `the kernel measured ${AGENT_ENTRY_FILE} and every agent-build file it read as an allowed build's`,
  );
}

function toolOf(f: KernelFacts, reg: CompiledRegistry | null): SegmentCheck {
  if (reg === null || reg.toolOwners.size === 0) return skipped('the registry lists no telemetry tools');
  const path = f.toolPath;
  if (path === null) return skipped('the agent names no telemetry tool');
  const d = Object.hasOwn(f.tools, path) ? f.tools[path] : undefined;
  if (d === undefined)
    return {
      status: 'fail',
      code: 'TELEMETRY_TOOL_NOT_MEASURED',
      detail: `the kernel log shows no measurement of the telemetry tool ${path}`,
    };
  const owners = reg.toolOwners.get(d);
  return owners === undefined
    ? {
        status: 'fail',
        code: 'TELEMETRY_TOOL_NOT_ALLOWED',
        detail: `the telemetry tool ${path} was measured as ${d}, which is no allowed tool`,
      }
    : pass(`the telemetry tool ${path} was measured as an allowed ${owners.join(', ')}`);
}

/**
 * Records a quote's segment (pure): merged into the last one when the state is the same (its
 * size moves up), appended otherwise; past MAX_SEGMENTS the oldest is dropped. A segment whose
 * size is not above the last one's changes nothing (checkpoints only grow).
 */
export function recordSegment(s: HostSegments, seg: HostSegment, max = MAX_SEGMENTS): HostSegments {
  const last = s.segments.at(-1);
  if (last !== undefined && seg.size <= last.size) return s;
  if (last !== undefined && sameState(last, seg))
    return { ...s, segments: [...s.segments.slice(0, -1), { ...last, size: seg.size }] };
  const segments = [...s.segments, seg];
  let dropped = s.dropped;
  while (segments.length > max) dropped = segments.shift()!.size;
  return { segments, dropped };
}

function sameState(a: HostSegment, b: HostSegment): boolean {
  return JSON.stringify({ ...a, size: 0 }) === JSON.stringify({ ...b, size: 0 });
}

/**
 * The segment that judges receipt `seq`: the first accepted quote whose checkpoint size is
 * above it. `pending` when no quote covers it yet; `dropped` when its segment was dropped.
 */
export function segmentFor(s: HostSegments, seq: number): HostSegment | 'pending' | 'dropped' {
  if (seq < s.dropped) return 'dropped';
  let lo = 0;
  let hi = s.segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s.segments[mid]!.size > seq) hi = mid;
    else lo = mid + 1;
  }
  return s.segments[lo] ?? 'pending';
}
