import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLAIMED_MODEL,
  expectedRequests,
  fitProfile,
  generateTrace,
  HostMonitor,
  logLikelihoodRatio,
  type ModelTruth,
  type RequestFeatures,
  requestFeatures,
  rocAuc,
  Sprt,
  StatsError,
  substituteOf,
  thresholdAtFpr,
  tprAtFpr,
} from '@tmb/stats';

const KEY = {
  modelDigest: 'd',
  gpuModel: 'g',
  gpuCount: 1,
  engine: 'e',
  engineVersion: 'v',
  concurrencyBucket: '1',
};
const SUB = substituteOf(CLAIMED_MODEL, 1.5);

function features(m: ModelTruth, seed: number, n: number): RequestFeatures[] {
  const tr = generateTrace(m, { seed, requests: n });
  return [...requestFeatures(tr.samples, tr.spans).values()].flatMap((r) => (r.ok ? [r.features] : []));
}

test('SPRT bounds and decisions follow Wald', () => {
  const t = new Sprt({ alpha: 0.001, beta: 0.01 });
  assert.ok(Math.abs(t.upper - Math.log(0.99 / 0.001)) < 1e-12);
  assert.ok(Math.abs(t.lower - Math.log(0.01 / 0.999)) < 1e-12);
  assert.equal(t.push(3), 'continue');
  assert.equal(t.push(4), 'accept-substitute');
  assert.equal(t.count, 0, 'restarts after a decision');
  assert.equal(t.push(-5), 'accept-claimed');
  assert.equal(t.push(Number.NaN), 'continue');
  assert.throws(() => new Sprt({ alpha: 0, beta: 0.1 }), StatsError);
  assert.throws(() => new Sprt({ alpha: 0.1, beta: 0.6 }), StatsError);
  assert.ok(Math.abs(expectedRequests({ alpha: 0.001, beta: 0.01 }, 3, 'substitute') - 2.26) < 0.05);
});

test('a 1.5x energy-per-token substitute is flagged and the claimed model passes', () => {
  const claimed = fitProfile(KEY, features(CLAIMED_MODEL, 1, 400), { powerLimitW: 700 });
  const sub = fitProfile(KEY, features(SUB, 2, 400), { powerLimitW: 700 });
  const honest = features(CLAIMED_MODEL, 3, 600).map((f) => logLikelihoodRatio(claimed, sub, f));
  const cheat = features(SUB, 4, 600).map((f) => logLikelihoodRatio(claimed, sub, f));
  // One request is weak evidence: ln 1.5 is 2.7 per-request sd, so AUC ≈ Φ(2.7/√2) ≈ 0.97.
  const auc = rocAuc(honest, cheat);
  assert.ok(auc > 0.94 && auc < 0.99, `AUC ${auc}`);
  assert.ok(tprAtFpr(honest, cheat, 0.01) > 0.3);
  // Streams of 20 requests: the substitute is caught in every one, the honest host in none.
  const run = (llrs: number[]) => {
    let caught = 0;
    for (let s = 0; s + 20 <= llrs.length; s += 20) {
      const t = new Sprt({ alpha: 0.001, beta: 0.01 });
      if (llrs.slice(s, s + 20).some((l) => t.push(l) === 'accept-substitute')) caught++;
    }
    return caught;
  };
  assert.equal(run(cheat), 30);
  assert.equal(run(honest), 0);
});

test('ROC helpers on known scores', () => {
  assert.equal(rocAuc([0, 1, 2], [3, 4]), 1);
  assert.equal(rocAuc([3, 4], [0, 1]), 0);
  assert.equal(rocAuc([1, 1], [1, 1]), 0.5);
  const neg = Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(thresholdAtFpr(neg, 0.01), 989);
  assert.equal(tprAtFpr(neg, [989, 990, 2000], 0.01), 2 / 3);
  assert.throws(() => thresholdAtFpr(neg, 0), StatsError);
  assert.throws(() => rocAuc([], [1]), StatsError);
});

test('HostMonitor flags the substitute that matches and splits alpha across substitutes', () => {
  const claimed = fitProfile(KEY, features(CLAIMED_MODEL, 1, 300), { powerLimitW: 700 });
  const sub15 = fitProfile({ ...KEY, modelDigest: 'x1.5' }, features(SUB, 2, 300), { powerLimitW: 700 });
  const small = fitProfile(
    { ...KEY, modelDigest: 'x0.6' },
    features(substituteOf(CLAIMED_MODEL, 0.6), 5, 300),
    {
      powerLimitW: 700,
    },
  );
  const m = new HostMonitor(claimed, [sub15, small], { alpha: 0.002, beta: 0.01 });
  let last = m.observe(features(SUB, 6, 1)[0]!);
  for (const f of features(SUB, 7, 40)) last = m.observe(f);
  assert.ok(last[0]!.flags >= 5, `1.5x flagged ${last[0]!.flags} times`);
  assert.equal(last[1]!.flags, 0, 'the 0.6x substitute fits worse than the claim');
  assert.equal(last[0]!.substitute.modelDigest, 'x1.5');
  const honest = new HostMonitor(claimed, [sub15, small], { alpha: 0.002, beta: 0.01 });
  for (const f of features(CLAIMED_MODEL, 8, 200)) last = honest.observe(f);
  assert.deepEqual(
    last.map((s) => s.flags),
    [0, 0],
  );
});
