import { StatsError } from '../errors.ts';
import type { Profile } from './types.ts';

type Obj = Record<string, unknown>;

function fail(path: string, want: string): never {
  throw new StatsError('PROFILE_MALFORMED', `profile.${path}: expected ${want}`);
}
function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object');
  return v as Obj;
}
function str(o: Obj, k: string, path: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0 || v.length > 256)
    fail(`${path}.${k}`, 'a string of 1-256 chars');
  return v;
}
function pos(o: Obj, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    fail(`${path}.${k}`, 'a finite positive number');
  return v;
}
function fin(o: Obj, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}.${k}`, 'a finite number');
  return v;
}
function beta(v: unknown, path: string) {
  const o = obj(v, path);
  return { alpha: pos(o, 'alpha', path), beta: pos(o, 'beta', path) };
}
function logNormal(v: unknown, path: string) {
  const o = obj(v, path);
  return { mu: fin(o, 'mu', path), sigma: pos(o, 'sigma', path) };
}

/**
 * Checks that a parsed JSON value is a version-1 profile and returns it typed, with only the
 * known fields (unknown fields are dropped, so they cannot ride along under a signature check
 * done on the re-serialized form).
 * @throws StatsError PROFILE_MALFORMED naming the first bad field
 */
export function parseProfile(value: unknown): Profile {
  const o = obj(value, '');
  if (o.v !== 1) fail('v', 'version 1');
  const k = obj(o.key, 'key');
  const gpuCount = pos(k, 'gpuCount', 'key');
  if (!Number.isSafeInteger(gpuCount)) fail('key.gpuCount', 'a positive integer');
  const f = obj(o.features, 'features');
  const d = obj(o.descriptive, 'descriptive');
  const profile: Profile = {
    v: 1,
    key: {
      modelDigest: str(k, 'modelDigest', 'key'),
      gpuModel: str(k, 'gpuModel', 'key'),
      gpuCount,
      engine: str(k, 'engine', 'key'),
      engineVersion: str(k, 'engineVersion', 'key'),
      concurrencyBucket: str(k, 'concurrencyBucket', 'key'),
    },
    n: pos(o, 'n', ''),
    features: {
      energyPerToken: logNormal(f.energyPerToken, 'features.energyPerToken'),
      tokensPerSecond: logNormal(f.tokensPerSecond, 'features.tokensPerSecond'),
      utilization: beta(f.utilization, 'features.utilization'),
    },
    descriptive: { powerLimitW: pos(d, 'powerLimitW', 'descriptive') },
  };
  if (d.powerFraction !== undefined)
    profile.descriptive.powerFraction = beta(d.powerFraction, 'descriptive.powerFraction');
  if (d.samplePowerMixture !== undefined) {
    const m = obj(d.samplePowerMixture, 'descriptive.samplePowerMixture');
    const w = m.weights;
    const c = m.components;
    if (!Array.isArray(w) || w.length !== 2 || !w.every((x) => typeof x === 'number' && x > 0 && x < 1))
      fail('descriptive.samplePowerMixture.weights', 'two weights in (0, 1)');
    if (!Array.isArray(c) || c.length !== 2)
      fail('descriptive.samplePowerMixture.components', 'two components');
    profile.descriptive.samplePowerMixture = {
      weights: [w[0] as number, w[1] as number],
      components: [
        beta(c[0], 'descriptive.samplePowerMixture.components.0'),
        beta(c[1], 'descriptive.samplePowerMixture.components.1'),
      ],
    };
  }
  if (o.calibration !== undefined) {
    const c = obj(o.calibration, 'calibration');
    const fpr = pos(c, 'fpr', 'calibration');
    if (fpr >= 1) fail('calibration.fpr', 'a rate in (0, 1)');
    profile.calibration = {
      fpr,
      logLikelihoodThreshold: fin(c, 'logLikelihoodThreshold', 'calibration'),
      heldOut: pos(c, 'heldOut', 'calibration'),
    };
  }
  return profile;
}
