/**
 * Fits and signs the demo's telemetry profile from a short warm-up on the honest backend's
 * SIMULATED GPU. The threshold is set on draws from the fitted profile (a parametric
 * bootstrap), because a warm-up of a few dozen requests is too short to hold out enough of them
 * for a 0.01% false-positive rate; `tmb profile fit --held-out` is the method for real
 * calibration runs (docs/profile.md).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { toBase64 } from '@tmb/core';
import { profileSigningMessage } from '@tmb/core/profile';
import {
  type BetaParams,
  calibrateProfile,
  createRng,
  type FitInput,
  fitProfile,
  type Profile,
  type ScoredFeatures,
} from '@tmb/stats';
import { SIM_GPU_NAME } from './sim.ts';

/**
 * Noise floors for a short warm-up on a shared machine: ln-scale sd of energy per token and of
 * tokens per second (timers slip under load, so the rate gets the wider one), beta concentration.
 */
export const MIN_LOG_SD_ENERGY = 0.12;
export const MIN_LOG_SD_RATE = 0.2;
export const MAX_BETA_CONCENTRATION = 20;

/** Options of fitWarmupProfile. */
export interface WarmupFitOptions {
  model: string;
  powerLimitW: number;
  /** False-positive rate of the per-request threshold. Default 1e-4. */
  fpr?: number;
  seed?: number;
}

function widen(b: BetaParams): BetaParams {
  const c = b.alpha + b.beta;
  if (c <= MAX_BETA_CONCENTRATION) return b;
  const m = b.alpha / c;
  return { alpha: m * MAX_BETA_CONCENTRATION, beta: (1 - m) * MAX_BETA_CONCENTRATION };
}

/**
 * A profile for `model` on the simulated GPU at concurrency 1 (modelDigest `name:<model>`,
 * as the verifier looks profiles up until receipts carry weight digests), fitted on the warm-up
 * requests' features, with the spreads floored (MIN_LOG_SD_*, MAX_BETA_CONCENTRATION) and the
 * threshold set on 20,000 draws from the result.
 * @throws StatsError from the fits (too few requests, degenerate data)
 */
export function fitWarmupProfile(features: readonly FitInput[], o: WarmupFitOptions): Profile {
  const key = {
    modelDigest: `name:${o.model}`,
    gpuModel: SIM_GPU_NAME,
    gpuCount: 1,
    engine: 'tmb-sample',
    engineVersion: '0.1',
    concurrencyBucket: '1',
  };
  const fitted = fitProfile(key, features, { powerLimitW: o.powerLimitW });
  const f = fitted.features;
  const p: Profile = {
    ...fitted,
    features: {
      energyPerToken: { mu: f.energyPerToken.mu, sigma: Math.max(MIN_LOG_SD_ENERGY, f.energyPerToken.sigma) },
      tokensPerSecond: {
        mu: f.tokensPerSecond.mu,
        sigma: Math.max(MIN_LOG_SD_RATE, f.tokensPerSecond.sigma),
      },
      utilization: widen(f.utilization),
    },
  };
  const rng = createRng(o.seed ?? 1);
  const draws: ScoredFeatures[] = [];
  for (let i = 0; i < 20_000; i++)
    draws.push({
      energyPerToken: Math.exp(p.features.energyPerToken.mu + p.features.energyPerToken.sigma * rng.normal()),
      tokensPerSecond: Math.exp(
        p.features.tokensPerSecond.mu + p.features.tokensPerSecond.sigma * rng.normal(),
      ),
      utilization: rng.beta(p.features.utilization.alpha, p.features.utilization.beta),
    });
  return calibrateProfile(p, draws, o.fpr ?? 1e-4);
}

/** A signed profile file (docs/profile.md): Ed25519 over "tmb-profile-v1" || 0x00 || JCS(profile). */
export function signProfile(
  profile: Profile,
  key: KeyObject | string,
): { profile: Profile; publicKey: string; signature: string } {
  const k = typeof key === 'string' ? createPrivateKey(key) : key;
  const msg = profileSigningMessage(profile);
  const der = createPublicKey(k).export({ format: 'der', type: 'spki' });
  return {
    profile,
    publicKey: toBase64(new Uint8Array(der.subarray(der.length - 32))),
    signature: toBase64(new Uint8Array(sign(null, msg, k))),
  };
}
