import type { BetaParams } from '../dist/beta.ts';
import type { LogNormalParams } from '../dist/normal.ts';

/**
 * What a profile holds for. Energy per token moves 3 to 5 times with batch size, so a profile
 * is only valid for one model build on one hardware and engine configuration at one
 * concurrency bucket (concurrencyBucket()).
 */
export interface ProfileKey {
  /** Digest of the model weights, e.g. "sha256:ab12...". */
  modelDigest: string;
  /** GPU model as nvidia-smi names it, e.g. "NVIDIA H100 80GB HBM3". */
  gpuModel: string;
  gpuCount: number;
  /** Serving engine, e.g. "vllm". */
  engine: string;
  engineVersion: string;
  /** concurrencyBucket() of the number of requests in flight. */
  concurrencyBucket: string;
}

/** The per-request features a profile scores, fitted per request (never per sample). */
export interface ProfileFeatures {
  /** Joules per output token, log-normal. */
  energyPerToken: LogNormalParams;
  /** Output tokens per second after the first token, log-normal. */
  tokensPerSecond: LogNormalParams;
  /** Mean GPU utilization over the request, beta on [0, 1]. */
  utilization: BetaParams;
}

/**
 * A fitted profile, version 1. Serialized with profileBytes (canonical JSON, docs/profile.md)
 * and signed over those bytes. Changing a field's meaning or adding a scored feature bumps `v`.
 */
export interface Profile {
  v: 1;
  key: ProfileKey;
  /** Number of calibration requests the features were fitted on. */
  n: number;
  features: ProfileFeatures;
  /**
   * Descriptive fits, not scored: mean power / power limit (beta; it is energy per token times
   * tokens per second, so scoring it would count that evidence twice) and per-sample power
   * fraction as a prefill/decode two-component beta mixture (samples are autocorrelated, so
   * they describe the shape but are never multiplied into a likelihood).
   */
  descriptive: {
    powerLimitW: number;
    powerFraction?: BetaParams;
    samplePowerMixture?: { weights: [number, number]; components: [BetaParams, BetaParams] };
  };
  /** Threshold on the per-request log-likelihood, set on held-out data (calibrateProfile). */
  calibration?: { fpr: number; logLikelihoodThreshold: number; heldOut: number };
}

/**
 * The concurrency bucket of `inFlight` requests: "1", "2-3", "4-7", "8-15", ... (powers of
 * two), since energy per token changes with batch size roughly on a log scale.
 */
export function concurrencyBucket(inFlight: number): string {
  if (!(inFlight >= 1)) return '1';
  const lo = 2 ** Math.floor(Math.log2(Math.floor(inFlight)));
  return lo === 1 ? '1' : `${lo}-${2 * lo - 1}`;
}
