import { fitBeta } from '../dist/beta.ts';
import { fitBetaMixture } from '../dist/mixture.ts';
import { fitLogNormal } from '../dist/normal.ts';
import { StatsError } from '../errors.ts';
import { type ScoredFeatures, scoreRequest } from '../score/request.ts';
import { thresholdAtFpr } from '../score/roc.ts';
import type { Profile, ProfileKey } from './types.ts';

/** A calibration request's features as fitProfile reads them. */
export interface FitInput extends ScoredFeatures {
  meanPowerW?: number;
}

/** Options of fitProfile. */
export interface FitProfileOptions {
  /** The GPU's power limit in watts (nvidia-smi power.limit); power fractions are power / this. */
  powerLimitW: number;
  /**
   * Per-sample power readings (watts) across the calibration run, for the descriptive
   * prefill/decode mixture. Left out: no mixture is stored (nothing is scored with it).
   */
  samplePowerW?: ArrayLike<number>;
}

/**
 * Fits a profile from calibration requests' features: log-normal energy per token and tokens
 * per second, beta mean utilization (clamped by BETA_EPSILON), and the descriptive fits.
 * Requests whose utilization is NaN are left out of the utilization fit only.
 * @throws StatsError from the fits (too few requests, degenerate data), STATS_BAD_PARAMETER
 */
export function fitProfile(key: ProfileKey, requests: readonly FitInput[], o: FitProfileOptions): Profile {
  if (!(o.powerLimitW > 0))
    throw new StatsError('STATS_BAD_PARAMETER', `powerLimitW must be > 0: ${o.powerLimitW}`);
  const ept = fitLogNormal(requests.map((r) => r.energyPerToken));
  const tps = fitLogNormal(requests.map((r) => r.tokensPerSecond));
  const util = fitBeta(requests.map((r) => r.utilization).filter((u) => !Number.isNaN(u)));
  const profile: Profile = {
    v: 1,
    key: { ...key },
    n: requests.length,
    features: {
      energyPerToken: { mu: ept.mu, sigma: ept.sigma },
      tokensPerSecond: { mu: tps.mu, sigma: tps.sigma },
      utilization: { alpha: util.alpha, beta: util.beta },
    },
    descriptive: { powerLimitW: o.powerLimitW },
  };
  const fractions = requests
    .map((r) => (r.meanPowerW ?? Number.NaN) / o.powerLimitW)
    .filter((x) => x >= 0 && x <= 1);
  if (fractions.length >= 2) {
    const pf = fitBeta(fractions);
    profile.descriptive.powerFraction = { alpha: pf.alpha, beta: pf.beta };
  }
  if (o.samplePowerW !== undefined) {
    const xs = Array.from(o.samplePowerW, (w) => Math.min(1, Math.max(0, w / o.powerLimitW)));
    const m = fitBetaMixture(xs);
    profile.descriptive.samplePowerMixture = { weights: m.weights, components: m.components };
  }
  return profile;
}

/**
 * Sets the profile's per-request threshold on held-out honest requests (not those it was
 * fitted on, or the threshold is optimistic) so that a fraction `fpr` of them fall below it.
 * @throws StatsError STATS_BAD_PARAMETER | STATS_TOO_FEW_SAMPLES | STATS_NOT_FINITE
 */
export function calibrateProfile(profile: Profile, heldOut: readonly ScoredFeatures[], fpr: number): Profile {
  // Suspicion = -log-likelihood; flag when ll < threshold.
  const neg = heldOut.map((r) => -scoreRequest(profile, r).logLikelihood);
  const t = thresholdAtFpr(neg, fpr);
  return { ...profile, calibration: { fpr, logLikelihoodThreshold: -t, heldOut: heldOut.length } };
}
