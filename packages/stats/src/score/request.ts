import { betaLogPdf } from '../dist/beta.ts';
import { logNormalLogPdf } from '../dist/normal.ts';
import type { Profile } from '../profile/types.ts';

/** The features scoreRequest reads: one aggregate per request, never per sample. */
export interface ScoredFeatures {
  energyPerToken: number;
  tokensPerSecond: number;
  /** Mean utilization over the request, 0 to 1; NaN when the tool did not report it. */
  utilization: number;
}

/** A request's log-likelihood under a profile, with each feature's term. */
export interface RequestScore {
  logLikelihood: number;
  terms: { energyPerToken: number; tokensPerSecond: number; utilization: number };
}

/**
 * Log-likelihood of one request's features under a profile: the sum of each scored feature's
 * log-density, treating the features as independent given the profile (a stated
 * approximation; calibration on held-out data sets the threshold, so the error rates quoted
 * are measured, not derived from this assumption). A feature that is NaN contributes 0 under
 * every profile, so it drops out of likelihood ratios.
 *
 * Aggregation per request is deliberate: successive samples are strongly autocorrelated
 * (power.draw is a 1-second average read every 100 ms; temperature and clocks move slowly), so
 * multiplying per-sample densities would count the same evidence many times and make any
 * threshold look more confident than it is. Different requests' features are much closer to
 * independent, which is what the sequential test assumes.
 */
export function scoreRequest(profile: Profile, f: ScoredFeatures): RequestScore {
  const p = profile.features;
  const e = Number.isNaN(f.energyPerToken) ? 0 : logNormalLogPdf(p.energyPerToken, f.energyPerToken);
  const t = Number.isNaN(f.tokensPerSecond) ? 0 : logNormalLogPdf(p.tokensPerSecond, f.tokensPerSecond);
  const u = Number.isNaN(f.utilization) ? 0 : betaLogPdf(p.utilization, f.utilization);
  return { logLikelihood: e + t + u, terms: { energyPerToken: e, tokensPerSecond: t, utilization: u } };
}

/**
 * ln [f_substitute(x) / f_claimed(x)]: positive values are evidence that the request was served
 * by the substitute. The increment of the per-host sequential test.
 */
export function logLikelihoodRatio(claimed: Profile, substitute: Profile, f: ScoredFeatures): number {
  return scoreRequest(substitute, f).logLikelihood - scoreRequest(claimed, f).logLikelihood;
}
