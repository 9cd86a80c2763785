import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitBeta, fitBetaMixture, fitGaussianMixture, requestFeatures, StatsError } from '@tmb/stats';
import fc from 'fast-check';

const unit = fc.double({ min: 0, max: 1, noNaN: true });

test('a beta fit of valid data gives finite positive parameters or a StatsError', () => {
  fc.assert(
    fc.property(fc.array(unit, { minLength: 2, maxLength: 200 }), (xs) => {
      try {
        const f = fitBeta(xs);
        assert.ok(f.alpha > 0 && f.beta > 0 && Number.isFinite(f.alpha) && Number.isFinite(f.beta));
        assert.ok(Number.isFinite(f.logLikelihood));
      } catch (e) {
        assert.ok(e instanceof StatsError, String(e));
        assert.equal(e.code, 'STATS_DEGENERATE');
      }
    }),
    { numRuns: 300 },
  );
});

test('data with spread in (0, 1) always fits', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0.01, max: 0.99, noNaN: true }), { minLength: 2, maxLength: 100 }),
      (xs) => {
        fc.pre(new Set(xs).size > 1);
        const f = fitBeta(xs);
        assert.ok(Number.isFinite(f.alpha) && Number.isFinite(f.beta));
      },
    ),
    { numRuns: 300 },
  );
});

test('mixture fits never throw anything but StatsError, and give finite results', () => {
  fc.assert(
    fc.property(fc.array(unit, { minLength: 0, maxLength: 60 }), (xs) => {
      for (const fit of [fitBetaMixture, fitGaussianMixture]) {
        try {
          const m = fit(xs);
          assert.ok(Number.isFinite(m.logLikelihood) && m.weights.every((w) => w > 0 && w < 1));
        } catch (e) {
          assert.ok(e instanceof StatsError, String(e));
        }
      }
    }),
    { numRuns: 150 },
  );
});

test('features of arbitrary samples and spans never throw', () => {
  const num = fc.option(fc.double({ noNaN: false }), { nil: undefined });
  const sample = fc.record({
    t: fc.double({ min: 0, max: 1e4, noNaN: true }),
    powerW: num,
    energyJ: num,
    utilGpu: num,
  });
  const span = fc.record({
    id: fc.string({ maxLength: 3 }),
    start: fc.double({ min: 0, max: 1e4, noNaN: true }),
    end: fc.double({ min: 0, max: 1e4, noNaN: true }),
    outputTokens: fc.integer({ min: -1, max: 500 }),
  });
  fc.assert(
    fc.property(fc.array(sample, { maxLength: 30 }), fc.array(span, { maxLength: 5 }), (ss, spans) => {
      ss.sort((a, b) => a.t - b.t);
      requestFeatures(ss, spans);
    }),
    { numRuns: 300 },
  );
});
