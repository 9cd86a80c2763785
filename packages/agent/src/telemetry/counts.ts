/**
 * Why a telemetry line, value or sample was dropped, or what happened to the stream. Bad
 * telemetry never throws: each problem is counted under one of these reasons and the rest of
 * the stream goes on (docs/telemetry.md lists them).
 */
export const TELEMETRY_REASONS = [
  /** A line longer than the parser's cap (4 KiB): dropped unread. */
  'line-too-long',
  /** Fewer cells than the header or configured fields: the whole line is dropped. */
  'missing-column',
  /** More cells than expected: the whole line is dropped. */
  'extra-column',
  /** A cell was `[N/A]` (or a DCGM blank value): that field is left out. */
  'not-available',
  /** A cell was `[Not Supported]`: that field is left out. */
  'not-supported',
  /** A cell was another bracketed tool message (`[Unknown Error]`, `[Insufficient Permissions]`...). */
  'tool-error',
  /** A cell that should be a number is not one (NaN, Inf, text): that field is left out. */
  'not-a-number',
  /** A unit suffix other than the field's (`W` for power...): that field is left out. */
  'wrong-unit',
  /** A negative power, energy, utilization or memory reading: that field is left out. */
  'negative',
  /** A percentage over 100: that field is left out. */
  'out-of-range',
  /** A GPU name or UUID that is not in the tool's form (control characters, too long, not GPU-/MIG-...): left out. */
  'bad-identity',
  /** A timestamp that does not parse: the line is dropped (it cannot be ordered). */
  'bad-timestamp',
  /** A tool timestamp earlier than the previous one for the same GPU: the line is dropped. */
  'time-backwards',
  /** Tool time and the agent's monotonic clock moved apart by more than the tolerance: dropped, re-anchored. */
  'clock-jump',
  /** The energy counter went down (driver reload, GPU reset): kept, energy restarts from it. */
  'counter-reset',
  /** A header line in the middle of the stream (the tool restarted): the header is re-read. */
  'header-repeated',
  /** A header naming a field this parser does not know: that column is ignored. */
  'unknown-field',
  /** The tool refused a queried field (`Field "X" is not a valid field to query.`): the query goes on without it. */
  'field-unsupported',
  /** A line with no GPU index where several GPUs report: dropped. */
  'no-gpu',
  /** A Prometheus text line that does not parse. */
  'bad-metric-line',
  /** A /proc file that does not have the documented layout. */
  'proc-malformed',
  /** The collector restarted the tool (it exited, or went silent past its timeout). */
  'tool-restart',
  /** A scrape or query failed (network error, non-200 status, spawn error). */
  'fetch-failed',
  /** A scrape or query ran past its timeout. */
  'timeout',
  /** A scrape's body was larger than its size bound. */
  'too-large',
] as const;

export type TelemetryReason = (typeof TELEMETRY_REASONS)[number];

/** Counts per reason; every reason starts at 0 so a report always has the same shape. */
export class TelemetryCounts {
  readonly counts: Record<TelemetryReason, number>;

  constructor() {
    this.counts = Object.fromEntries(TELEMETRY_REASONS.map((r) => [r, 0])) as Record<TelemetryReason, number>;
  }

  /** Counts one occurrence of `reason`. */
  add(reason: TelemetryReason, n = 1): void {
    this.counts[reason] += n;
  }

  /** Sum over every reason. */
  total(): number {
    let s = 0;
    for (const r of TELEMETRY_REASONS) s += this.counts[r];
    return s;
  }

  /** Only the reasons that occurred, for logs and reports. */
  nonZero(): Partial<Record<TelemetryReason, number>> {
    const out: Partial<Record<TelemetryReason, number>> = {};
    for (const r of TELEMETRY_REASONS) if (this.counts[r] > 0) out[r] = this.counts[r];
    return out;
  }
}
