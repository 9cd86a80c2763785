// What the scale bench's load threads measure (bench/scale/load.worker.ts) and the bench merges.
// Apart from the worker so that the main thread can use it: importing the worker runs it.

/** What a load thread measured. */
export interface LoadResult {
  cycles: number;
  accepted: number;
  receipts: number;
  /** Kernel IMA entries the accepted evidence carried (each replayed by the verifier). */
  kernelEntries: number;
  /** Cycles skipped: due while the agent's previous one was still running (an agent has one in flight). */
  late: number;
  refusals: { status: number; body: string }[];
  errors: string[];
  verdictMs: number[];
  healthMs: number[];
  /** ms spent in each cycle step, summed over the thread's cycles (receipts, checkpoint, nonce, quote, evidence). */
  steps: Record<string, number>;
  /** The host's PCR 10 (hex) once the run's kernel extends were done; null without a simulated kernel. */
  pcr10: string | null;
  /** Each verdict read: status, level, and its checks that did not pass (name:status:code). */
  verdicts: { level: string | null; status: number; notPassed: string[]; body?: string }[];
}

/** A result with nothing counted yet; `steps` is the map the caller fills (a fresh one by default). */
export function emptyLoadResult(steps: Record<string, number> = {}): LoadResult {
  return {
    cycles: 0,
    accepted: 0,
    receipts: 0,
    kernelEntries: 0,
    late: 0,
    refusals: [],
    errors: [],
    verdictMs: [],
    healthMs: [],
    verdicts: [],
    pcr10: null,
    steps,
  };
}

/** The results of several load threads as one. */
export function merge(results: LoadResult[]): LoadResult {
  const all = emptyLoadResult();
  for (const r of results) {
    all.cycles += r.cycles;
    all.accepted += r.accepted;
    all.receipts += r.receipts;
    all.kernelEntries += r.kernelEntries;
    all.late += r.late;
    all.refusals.push(...r.refusals);
    all.errors.push(...r.errors);
    all.verdictMs.push(...r.verdictMs);
    all.healthMs.push(...r.healthMs);
    all.verdicts.push(...r.verdicts);
    for (const [k, v] of Object.entries(r.steps)) all.steps[k] = (all.steps[k] ?? 0) + v;
  }
  return all;
}

/** Up to 3 errors and 3 refusals of `r`, each refusal as its status and error message. */
export function failures(r: LoadResult): string {
  const refused = r.refusals.map((f) => {
    const m = /"message":"((?:[^"\\]|\\.)*)"/.exec(f.body);
    return `${f.status} ${m?.[1] ?? f.body.slice(0, 120)}`;
  });
  return JSON.stringify([...r.errors.slice(0, 3), ...refused.slice(0, 3)]);
}
