export { HOST_FAILURE_CODES } from './codes.ts';
export type { FoldOptions } from './fold.ts';
export {
  AGENT_ENTRY_FILE,
  agentRel,
  BOOT_AGGREGATE,
  emptyKernelFacts,
  foldKernel,
  MAX_LISTED,
  SIMULATED_KERNEL_EVENT,
} from './fold.ts';
export type { KernelLookups } from './fold-columns.ts';
export { compileKernelRefs, foldKernelColumns } from './fold-columns.ts';
export type { QuotedMembers } from './qualifying.ts';
export { quoteQualifyingData } from './qualifying.ts';
export type { SegmentInput } from './segment.ts';
export { MAX_SEGMENTS, recordSegment, segmentFor, segmentOf } from './segment.ts';
export type {
  BootKind,
  EntryFinding,
  HostSegment,
  HostSegments,
  HostSummary,
  KernelFacts,
  KernelKind,
  KernelRefs,
  SegmentCheck,
  SegmentUpstream,
} from './types.ts';
export type { UpstreamEvidence } from './upstream.ts';
export { UPSTREAM_LIMITS, upstreamCheck, upstreamSegment } from './upstream.ts';
export { servedCheck, weightsCheck } from './weights.ts';
