/**
 * One telemetry sample on the agent's monotonic clock. Every reading is optional: a tool may
 * not report it, or the parser may have dropped it.
 */
export interface Sample {
  /** Milliseconds on the agent's monotonic clock (the same clock as request spans). */
  t: number;
  /**
   * The GPU's UUID as the tool prints it (`GPU-...`, `MIG-...`); two UUIDs in one request's
   * window mean the GPU changed under the stream (windowGpu).
   */
  uuid?: string;
  /** The GPU's product name as the tool prints it, held against a profile's gpuModel (gpuNameMatches). */
  name?: string;
  /** Board power in watts. */
  powerW?: number;
  /** Cumulative energy counter in joules (nvidia-smi total_energy_consumption, DCGM TOTAL_ENERGY). */
  energyJ?: number;
  /** GPU utilization in percent, 0 to 100. */
  utilGpu?: number;
  /** Device memory used in MiB. */
  memUsedMiB?: number;
}

/** A request as the agent saw it, on the same clock as the samples. */
export interface RequestSpan {
  id: string;
  /** Request start (first byte received), ms. */
  start: number;
  /** First output token sent, ms; absent when the answer had no tokens or was not streamed. */
  firstToken?: number;
  /** Last byte sent, ms. */
  end: number;
  outputTokens: number;
}

/** Features of one request: what the profile is fitted on and what is scored. */
export interface RequestFeatures {
  id: string;
  durationMs: number;
  /** Energy attributed to this request, joules. */
  energyJ: number;
  /** Where energyJ came from: the energy counter, or power integrated by the trapezoid rule. */
  energySource: 'counter' | 'power';
  energyPerToken: number;
  meanPowerW: number;
  peakPowerW: number;
  /** Mean GPU utilization over the window, 0 to 1. */
  utilization: number;
  /** Every utilization sample in the window, 0 to 1 (the distribution, for descriptive fits). */
  utilizationSamples: number[];
  /** Peak memory used in the window, MiB; NaN when no sample had it. */
  memUsedMiB: number;
  tokensPerSecond: number;
  /** Time to first token, ms; NaN when firstToken is absent. */
  ttftMs: number;
  /** Number of samples inside the window. */
  sampleCount: number;
}

/** Why a request's features could not be computed. */
export type InsufficientReason =
  | 'no-tokens'
  | 'no-samples-around-window'
  | 'no-samples-in-window'
  | 'no-energy-readings';

/** Features, or the reason there are none (the verdict's "insufficient data"). */
export type FeatureResult =
  | { ok: true; features: RequestFeatures }
  | { ok: false; reason: InsufficientReason };
