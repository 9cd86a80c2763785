/** One line of `npm run bench` output. */
export interface BenchRecord {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  /** The same metric for the baseline measured in the same run, or null when the metric is a ratio or absolute. */
  baseline: number | null;
}

/** Percentile `p` (0..100) of already sorted numbers, nearest-rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
