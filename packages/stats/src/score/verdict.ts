import type { FeatureResult } from '../features/types.ts';
import type { Profile, ProfileKey } from '../profile/types.ts';
import { scoreRequest } from './request.ts';

/** The telemetry link of a request's verdict. */
export interface TelemetryLink {
  status: 'consistent' | 'inconsistent' | 'insufficient-data';
  /** Log-likelihood under the profile; absent for insufficient data. */
  logLikelihood?: number;
  /** The calibrated threshold it was compared with. */
  threshold?: number;
  /** Why there is no score. */
  reason?: string;
  profile: ProfileKey;
}

/**
 * Classifies one request against a calibrated profile: inconsistent when its log-likelihood is
 * below the threshold set for the profile's false-positive rate, insufficient data when the
 * features could not be computed or the profile was never calibrated. One request is weak
 * evidence at a 0.1% false-positive rate; the per-host Sprt is where decisions are made.
 */
export function telemetryLink(profile: Profile, result: FeatureResult): TelemetryLink {
  if (!result.ok) return { status: 'insufficient-data', reason: result.reason, profile: profile.key };
  if (profile.calibration === undefined)
    return { status: 'insufficient-data', reason: 'profile-not-calibrated', profile: profile.key };
  const ll = scoreRequest(profile, result.features).logLikelihood;
  const threshold = profile.calibration.logLikelihoodThreshold;
  return {
    status: ll >= threshold ? 'consistent' : 'inconsistent',
    logLikelihood: ll,
    threshold,
    profile: profile.key,
  };
}
