import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createRng,
  fitBetaMixture,
  fitGaussianMixture,
  fitLogNormal,
  fitNormal,
  StatsError,
} from '@tmb/stats';

const code = (c: string) => (e: unknown) => e instanceof StatsError && e.code === c;

test('beta mixture recovers prefill and decode modes', () => {
  const rng = createRng(11);
  const xs = Array.from({ length: 20000 }, () => (rng.next() < 0.3 ? rng.beta(20, 5) : rng.beta(3, 12)));
  const m = fitBetaMixture(xs);
  assert.ok(Math.abs(m.weights[0] - 0.7) < 0.02, `weights ${m.weights}`);
  const [lo, hi] = m.components;
  assert.ok(Math.abs(lo.alpha / (lo.alpha + lo.beta) - 0.2) < 0.01);
  assert.ok(Math.abs(hi.alpha / (hi.alpha + hi.beta) - 0.8) < 0.01);
  assert.ok(Math.abs(hi.alpha - 20) < 2 && Math.abs(lo.beta - 12) < 1.2, JSON.stringify(m.components));
});

test('gaussian mixture recovers two modes, components sorted by mean', () => {
  const rng = createRng(12);
  const xs = Array.from({ length: 10000 }, () =>
    rng.next() < 0.6 ? 550 + 30 * rng.normal() : 300 + 20 * rng.normal(),
  );
  const m = fitGaussianMixture(xs);
  assert.ok(Math.abs(m.weights[0] - 0.4) < 0.02);
  assert.ok(Math.abs(m.components[0].mean - 300) < 2 && Math.abs(m.components[1].mean - 550) < 2);
  assert.ok(Math.abs(m.components[0].sd - 20) < 1.5 && Math.abs(m.components[1].sd - 30) < 1.5);
  // Two components fit bimodal data better than one.
  assert.ok(m.logLikelihood > fitNormal(xs).logLikelihood + 100);
});

test('mixture degenerate data', () => {
  assert.throws(() => fitGaussianMixture([1, 2, 3, 4]), code('STATS_TOO_FEW_SAMPLES'));
  assert.throws(() => fitGaussianMixture([5, 5, 5, 5, 5, 5]), code('STATS_DEGENERATE'));
  assert.throws(() => fitGaussianMixture([1, 2, Number.NaN, 4, 5]), code('STATS_NOT_FINITE'));
  assert.throws(() => fitBetaMixture([0, 1, 0, 1, 1, 0]), code('STATS_DEGENERATE'));
  assert.throws(() => fitBetaMixture([0.3, 0.3, 0.3, 0.3, 0.3]), code('STATS_DEGENERATE'));
  assert.throws(() => fitBetaMixture([0.1, 0.2, 0.3, 2, 0.4]), code('STATS_OUT_OF_SUPPORT'));
});

test('log-normal fit is a normal fit of ln x; x <= 0 is out of support', () => {
  const rng = createRng(5);
  const xs = Array.from({ length: 5000 }, () => Math.exp(2 + 0.3 * rng.normal()));
  const f = fitLogNormal(xs);
  assert.ok(Math.abs(f.mu - 2) < 0.02 && Math.abs(f.sigma - 0.3) < 0.01);
  assert.throws(() => fitLogNormal([1, 0, 2]), code('STATS_OUT_OF_SUPPORT'));
  assert.throws(() => fitNormal([3, 3]), code('STATS_DEGENERATE'));
});

test('EM converges on overlapping components (slow linear convergence)', () => {
  const rng = createRng(13);
  const xs = Array.from({ length: 3000 }, () => (rng.next() < 0.5 ? rng.normal() : 1.5 + rng.normal()));
  const g = fitGaussianMixture(xs);
  assert.ok(g.iterations > 20, `took ${g.iterations} rounds`);
  assert.ok(Math.abs(g.components[1].mean - g.components[0].mean - 1.5) < 0.8);
  const ys = Array.from({ length: 3000 }, () => (rng.next() < 0.5 ? rng.beta(3, 5) : rng.beta(5, 3)));
  const b = fitBetaMixture(ys);
  assert.ok(b.weights[0] > 0.2 && b.weights[0] < 0.8);
});
