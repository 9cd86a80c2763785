import type { CompiledPolicy } from '../ima/appraise.ts';
import type { CompiledRegistry } from '../registry/types.ts';
import type { Check } from '../verdict/types.ts';

/** Where the kernel facts come from: the kernel's IMA, the labelled simulated kernel, or nothing. */
export type KernelKind = 'ima' | 'simulated' | 'absent';
/** Where the boot facts come from: a UEFI event log, a simulated one, or nothing. */
export type BootKind = 'measured' | 'simulated' | 'absent';

/** The `host` member of a verdict (docs/result.md): what the L1 host facts rest on. */
export interface HostSummary {
  kernel: KernelKind;
  boot: BootKind;
  /** Secure Boot state from the boot log; null when no boot log was appraised. */
  secureBoot: boolean | null;
}

/** The reference values kernel entries are allowed by. Either may be null. */
export interface KernelRefs {
  /** A Keylime runtime policy (digests per path, excludes). */
  policy: CompiledPolicy | null;
  /** The model registry: weights, engines, telemetry tools and agent builds by their files. */
  registry: CompiledRegistry | null;
}

/** One kernel entry that broke a rule: its index in the kernel log, path and `<algo>:<hex>` digest. */
export interface EntryFinding {
  index: number;
  path: string;
  digest: string;
  code: NonNullable<Check['code']>;
  detail: string;
}

/**
 * What the kernel log of one boot showed, folded entry by entry up to the last entry a quote
 * covered. Plain JSON, bounded (MAX_LISTED members per list). Change rule: a new member gets a
 * default when absent; renaming one needs a migration of stored states.
 */
export interface KernelFacts {
  /** Entries folded (the next entry's index). */
  entries: number;
  /** `simulated` once entry 1 is the `tmb.simulated-kernel` event. */
  kind: 'ima' | 'simulated';
  /** Entry 0 was `boot_aggregate` equal to the quoted PCRs 0-9's aggregate. */
  aggregate: boolean;
  /** The first entry not allowed since boot: the host is untrusted from it until a reboot. */
  failure: EntryFinding | null;
  /** Registered weights digests read since boot, in the order first read. */
  weights: string[];
  /**
   * Path to the registered weights digest last measured there (MAX_LISTED paths). A later
   * measurement of the path that is not registered weights removes it. Absent in states
   * stored before it: read as {}.
   */
  weightPaths: Record<string, string>;
  /** Engines (registry names) an allowed executable of which was measured. */
  engines: string[];
  /** Whether `agent/src/agent.ts` of an allowed build was measured. */
  agentEntry: boolean;
  /** The first measured agent-build file that no allowed build has. */
  agentFailure: EntryFinding | null;
  /** Path to the last digest measured there: registered tool digests, and the declared tool path. */
  tools: Record<string, string>;
  /** The telemetry tool path the agent last declared (evidence `telemetryTool`). */
  toolPath: string | null;
}

/** A check as a segment stores it (the name is the member's). */
export interface SegmentCheck {
  status: Check['status'];
  code?: Check['code'];
  detail: string;
}

/**
 * The host state one accepted quote established (docs/evidence.md, "Segments"). Receipts with
 * seq below `size`, and at or above the previous segment's size, are judged by it.
 */
export interface HostSegment {
  /** The checkpoint size of the last quote that established this state. */
  size: number;
  resetCount: number;
  host: HostSummary;
  integrity: SegmentCheck;
  boot: SegmentCheck;
  engine: SegmentCheck;
  agent: SegmentCheck;
  tool: SegmentCheck;
  /** Registered weights digests read since boot up to the quote (judged per receipt's model). */
  weights: string[];
  /**
   * What the agent's upstream was at this quote (docs/upstream.md), reduced to what `host.upstream`
   * judges; null (or absent, in segments stored before it) when the evidence had no upstream.
   */
  upstream?: SegmentUpstream | null;
}

/** The agent's upstream as a segment keeps it (judged per receipt's model by upstreamCheck). */
export interface SegmentUpstream {
  kind: 'local' | 'remote' | 'none';
  /** Why not local (the agent's reason, or the remote host), bounded. */
  reason?: string;
  /** The executables of the processes holding the upstream's socket, sorted, deduplicated. */
  exes: string[];
  /**
   * Files the upstream's processes hold open or mapped that the kernel measured as registered
   * weights at that path: path to digest, sorted by path (at most MAX_LISTED).
   */
  weights: [path: string, digest: string][];
}

/** An agent's segments, oldest first. */
export interface HostSegments {
  segments: HostSegment[];
  /** Receipts with seq below this were judged by segments since dropped (MAX_SEGMENTS). */
  dropped: number;
}
