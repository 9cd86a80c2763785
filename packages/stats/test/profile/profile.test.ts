import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLAIMED_MODEL,
  calibrateProfile,
  canonicalJson,
  concurrencyBucket,
  fitProfile,
  generateTrace,
  parseProfile,
  type RequestFeatures,
  requestFeatures,
  StatsError,
  telemetryLink,
} from '@tmb/stats';

const KEY = {
  modelDigest: 'sha256:aa',
  gpuModel: 'NVIDIA H100 80GB HBM3',
  gpuCount: 1,
  engine: 'vllm',
  engineVersion: '0.6.3',
  concurrencyBucket: '1',
};

function features(seed: number, n: number): RequestFeatures[] {
  const tr = generateTrace(CLAIMED_MODEL, { seed, requests: n });
  return [...requestFeatures(tr.samples, tr.spans).values()].map((r) => {
    assert.ok(r.ok);
    return r.features;
  });
}

test('a fitted profile recovers the generator and round-trips through canonical JSON', () => {
  const tr = generateTrace(CLAIMED_MODEL, { seed: 1, requests: 300 });
  const feats = [...requestFeatures(tr.samples, tr.spans).values()].flatMap((r) =>
    r.ok ? [r.features] : [],
  );
  const p = fitProfile(KEY, feats, { powerLimitW: 700, samplePowerW: tr.samples.map((s) => s.powerW!) });
  assert.ok(Math.abs(p.features.tokensPerSecond.mu - Math.log(45)) < 0.05);
  assert.ok(Math.abs(p.features.energyPerToken.sigma - 0.15) < 0.03);
  assert.ok(p.descriptive.samplePowerMixture !== undefined);
  const text = canonicalJson(p);
  assert.equal(canonicalJson(parseProfile(JSON.parse(text))), text);
  assert.ok(text.startsWith('{"descriptive":{'), 'keys are sorted');
});

test('calibration holds the stated false-positive rate on fresh honest data', () => {
  const p = calibrateProfile(
    fitProfile(KEY, features(1, 400), { powerLimitW: 700 }),
    features(2, 1000),
    0.01,
  );
  const fresh = features(3, 1000).map((f) => telemetryLink(p, { ok: true, features: f }).status);
  const flagged = fresh.filter((s) => s === 'inconsistent').length;
  assert.ok(flagged <= 30, `flagged ${flagged}/1000 at a 1% calibration`);
  assert.equal(telemetryLink(p, { ok: false, reason: 'no-tokens' }).status, 'insufficient-data');
});

test('malformed profiles are rejected with PROFILE_MALFORMED', () => {
  const p = fitProfile(KEY, features(1, 50), { powerLimitW: 700 });
  // biome-ignore lint/suspicious/noExplicitAny: the test edits arbitrary nested fields of parsed JSON
  const bad = (mutate: (o: Record<string, any>) => void) => {
    const o = JSON.parse(canonicalJson(p));
    mutate(o);
    assert.throws(
      () => parseProfile(o),
      (e: unknown) => e instanceof StatsError && e.code === 'PROFILE_MALFORMED',
    );
  };
  bad((o) => {
    o.v = 2;
  });
  bad((o) => {
    o.features.utilization.alpha = -1;
  });
  bad((o) => {
    delete o.key.engine;
  });
  bad((o) => {
    o.key.gpuCount = 1.5;
  });
  assert.throws(() => canonicalJson({ x: Number.NaN }), StatsError);
});

test('concurrency buckets are powers of two', () => {
  assert.deepEqual([1, 2, 3, 4, 7, 8, 20].map(concurrencyBucket), [
    '1',
    '2-3',
    '2-3',
    '4-7',
    '4-7',
    '8-15',
    '16-31',
  ]);
});
