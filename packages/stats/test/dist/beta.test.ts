import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BETA_EPSILON, betaLogPdf, createRng, fitBeta, StatsError } from '@tmb/stats';

function sample(seed: number, n: number, a: number, b: number): Float64Array {
  const rng = createRng(seed);
  return Float64Array.from({ length: n }, () => rng.beta(a, b));
}

test('the fit is at a maximum: the gradient of the log-likelihood vanishes', () => {
  const xs = sample(7, 2000, 2, 5);
  const f = fitBeta(xs);
  const ll = (a: number, b: number) => xs.reduce((s, x) => s + betaLogPdf({ alpha: a, beta: b }, x), 0);
  assert.ok(Math.abs(ll(f.alpha, f.beta) - f.logLikelihood) < 1e-6 * Math.abs(f.logLikelihood));
  for (const [da, db] of [
    [1e-3, 0],
    [-1e-3, 0],
    [0, 1e-3],
    [0, -1e-3],
  ])
    assert.ok(ll(f.alpha + da, f.beta + db) < f.logLikelihood);
});

test('bias and 95% Wald interval coverage over 200 seeded replications', () => {
  const truth = { alpha: 2.5, beta: 6 };
  const reps = 200;
  let sumA = 0;
  let sumB = 0;
  let coverA = 0;
  let coverB = 0;
  for (let r = 0; r < reps; r++) {
    const f = fitBeta(sample(1000 + r, 400, truth.alpha, truth.beta));
    sumA += f.alpha;
    sumB += f.beta;
    if (Math.abs(f.alpha - truth.alpha) <= 1.96 * f.se.alpha) coverA++;
    if (Math.abs(f.beta - truth.beta) <= 1.96 * f.se.beta) coverB++;
  }
  // MLE bias is O(1/n): under 3% of the parameter at n = 400.
  assert.ok(Math.abs(sumA / reps / truth.alpha - 1) < 0.03, `alpha bias ${sumA / reps}`);
  assert.ok(Math.abs(sumB / reps / truth.beta - 1) < 0.03, `beta bias ${sumB / reps}`);
  // Binomial(200, 0.95) lies in [181, 197] with probability > 99.9%.
  assert.ok(coverA >= 181 && coverA <= 197, `alpha coverage ${coverA}/200`);
  assert.ok(coverB >= 181 && coverB <= 197, `beta coverage ${coverB}/200`);
});

test('U-shaped parameters below 1 are recovered', () => {
  const f = fitBeta(sample(3, 20000, 0.5, 0.7));
  assert.ok(Math.abs(f.alpha - 0.5) < 0.03 && Math.abs(f.beta - 0.7) < 0.04, JSON.stringify(f));
});

test('0 and 1 are clamped by BETA_EPSILON, not rejected', () => {
  const f = fitBeta([0, 0.2, 0.5, 0.7, 1]);
  assert.ok(Number.isFinite(f.alpha) && Number.isFinite(f.beta));
  assert.equal(BETA_EPSILON, 1e-6);
});

const code = (c: string) => (e: unknown) => e instanceof StatsError && e.code === c;

test('degenerate data fail with a clear code', () => {
  assert.throws(() => fitBeta([0.4, 0.4, 0.4]), code('STATS_DEGENERATE'));
  assert.throws(() => fitBeta([0, 1, 1, 0]), code('STATS_DEGENERATE'));
  assert.throws(() => fitBeta([0, 0]), code('STATS_DEGENERATE'));
  assert.throws(() => fitBeta([0.5]), code('STATS_TOO_FEW_SAMPLES'));
  assert.throws(() => fitBeta([]), code('STATS_TOO_FEW_SAMPLES'));
  assert.throws(() => fitBeta([0.2, Number.NaN]), code('STATS_NOT_FINITE'));
  assert.throws(() => fitBeta([0.2, Number.POSITIVE_INFINITY]), code('STATS_NOT_FINITE'));
  assert.throws(() => fitBeta([0.2, 1.5]), code('STATS_OUT_OF_SUPPORT'));
  assert.throws(() => fitBeta([-0.1, 0.5]), code('STATS_OUT_OF_SUPPORT'));
});
