export type { BetaFit, BetaParams, BetaStats } from './dist/beta.ts';
export {
  BETA_EPSILON,
  betaLogPdf,
  betaMoments,
  betaStats,
  clampUnit,
  fitBeta,
  fitBetaFromStats,
  logBeta,
} from './dist/beta.ts';
export type { Mixture } from './dist/mixture.ts';
export { fitBetaMixture, fitGaussianMixture, mixtureLogPdf } from './dist/mixture.ts';
export type { LogNormalParams, NormalParams } from './dist/normal.ts';
export { fitLogNormal, fitNormal, logNormalLogPdf, normalLogPdf } from './dist/normal.ts';
export type { StatsErrorCode } from './errors.ts';
export { STATS_ERROR_CODES, StatsError } from './errors.ts';
export type { Attribution } from './features/attribute.ts';
export { attributeEnergy } from './features/attribute.ts';
export { intervalEnergy } from './features/energy.ts';
export type { GpuIdentity } from './features/gpu.ts';
export { gpuNameMatches, samplesAround, windowGpu } from './features/gpu.ts';
export type {
  FeatureResult,
  InsufficientReason,
  RequestFeatures,
  RequestSpan,
  Sample,
} from './features/types.ts';
export { requestFeatures } from './features/window.ts';
export type { ModelTruth, TraceOptions } from './generate/trace.ts';
export { CLAIMED_MODEL, generateTrace, substituteOf } from './generate/trace.ts';
export type { JsonValue } from './profile/canonical.ts';
export { canonicalBytes, canonicalJson } from './profile/canonical.ts';
export type { FitInput, FitProfileOptions } from './profile/fit.ts';
export { calibrateProfile, fitProfile } from './profile/fit.ts';
export { parseProfile } from './profile/parse.ts';
export type { Profile, ProfileFeatures, ProfileKey } from './profile/types.ts';
export { concurrencyBucket } from './profile/types.ts';
export type { Rng } from './rng.ts';
export { createRng } from './rng.ts';
export type { SubstituteState } from './score/monitor.ts';
export { HostMonitor } from './score/monitor.ts';
export type { RequestScore, ScoredFeatures } from './score/request.ts';
export { logLikelihoodRatio, scoreRequest } from './score/request.ts';
export { rateAbove, rocAuc, thresholdAtFpr, tprAtFpr } from './score/roc.ts';
export type { SprtDecision, SprtOptions } from './score/sprt.ts';
export { expectedRequests, Sprt, sprtBounds } from './score/sprt.ts';
export type { TelemetryLink } from './score/verdict.ts';
export { telemetryLink } from './score/verdict.ts';
export { digamma, logGamma, trigamma } from './special/gamma.ts';
