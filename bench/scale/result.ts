// What the scale bench's load threads measure (bench/scale/load.worker.ts) and the bench merges.
// Apart from the worker so that the main thread can use it: importing the worker runs it.

/** What a load thread measured. */
export interface LoadResult {
  cycles: number;
  accepted: number;
  receipts: number;
  /** Cycles skipped: due while the agent's previous one was still running (an agent has one in flight). */
  late: number;
  refusals: { status: number; body: string }[];
  errors: string[];
  verdictMs: number[];
  healthMs: number[];
  /** ms spent in each cycle step, summed over the thread's cycles (receipts, checkpoint, nonce, quote, evidence). */
  steps: Record<string, number>;
  /** Each verdict read: status, level, and its checks that did not pass (name:status:code). */
  verdicts: { level: string | null; status: number; notPassed: string[]; body?: string }[];
}

/** A result with nothing counted yet; `steps` is the map the caller fills (a fresh one by default). */
export function emptyLoadResult(steps: Record<string, number> = {}): LoadResult {
  return {
    cycles: 0,
    accepted: 0,
    receipts: 0,
    late: 0,
    refusals: [],
    errors: [],
    verdictMs: [],
    healthMs: [],
    verdicts: [],
    steps,
  };
}
