import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributeEnergy, requestFeatures, type Sample } from '@tmb/stats';

// A 1 s grid with the counter rising 100 J per second (a constant 100 W).
const grid = (n: number, withCounter = true): Sample[] =>
  Array.from({ length: n }, (_, i) => ({
    t: i * 1000,
    powerW: 100,
    ...(withCounter ? { energyJ: 5000 + 100 * i } : {}),
    utilGpu: 50 + i,
    memUsedMiB: 1000 + i,
  }));

test('one request: energy from the counter, per-token and rate features', () => {
  const r = requestFeatures(grid(10), [
    { id: 'a', start: 2000, firstToken: 2500, end: 6000, outputTokens: 35 },
  ]);
  const f = r.get('a');
  assert.ok(f?.ok);
  assert.equal(f.features.energySource, 'counter');
  assert.ok(Math.abs(f.features.energyJ - 400) < 1e-9);
  assert.ok(Math.abs(f.features.energyPerToken - 400 / 35) < 1e-9);
  assert.equal(f.features.tokensPerSecond, 10);
  assert.equal(f.features.ttftMs, 500);
  assert.equal(f.features.meanPowerW, 100);
  assert.equal(f.features.memUsedMiB, 1006);
  assert.deepEqual(f.features.utilizationSamples, [0.52, 0.53, 0.54, 0.55, 0.56]);
  assert.equal(f.features.sampleCount, 5);
});

test('without a counter the trapezoid of power gives the same energy', () => {
  const f = requestFeatures(grid(10, false), [{ id: 'a', start: 2000, end: 6000, outputTokens: 40 }]).get(
    'a',
  );
  assert.ok(f?.ok);
  assert.equal(f.features.energySource, 'power');
  assert.ok(Math.abs(f.features.energyJ - 400) < 1e-9);
});

test('overlapping requests split energy by tokens generated in each interval', () => {
  // a decodes 0..4 s with 40 tokens (10/s); b decodes 2..4 s with 60 tokens (30/s).
  const spans = [
    { id: 'a', start: 0, firstToken: 0, end: 4000, outputTokens: 40 },
    { id: 'b', start: 2000, firstToken: 2000, end: 4000, outputTokens: 60 },
  ];
  const m = attributeEnergy(grid(6), spans);
  // 0..2 s: 200 J all to a. 2..4 s: 200 J split 20:60.
  assert.ok(Math.abs(m.get('a')!.energyJ - (200 + 50)) < 1e-9);
  assert.ok(Math.abs(m.get('b')!.energyJ - 150) < 1e-9);
  // Nothing is created or lost: the two shares sum to the energy of the busy time.
  assert.ok(Math.abs(m.get('a')!.energyJ + m.get('b')!.energyJ - 400) < 1e-9);
});

test('a counter reset falls back to power for that interval', () => {
  const s = grid(5);
  // The tool restarted between samples 2 and 3: the counter starts again from near 0.
  s[3]!.energyJ = 3;
  s[4]!.energyJ = 103;
  const f = requestFeatures(s, [{ id: 'a', start: 0, end: 4000, outputTokens: 4 }]).get('a');
  assert.ok(f?.ok);
  assert.equal(f.features.energySource, 'power');
  assert.ok(Math.abs(f.features.energyJ - 400) < 1e-9);
});

test('insufficient data is a reason, not a guess', () => {
  const s = grid(5);
  const r = requestFeatures(s, [
    { id: 'late', start: 3000, end: 9000, outputTokens: 5 },
    { id: 'none', start: 0, end: 1000, outputTokens: 0 },
  ]);
  assert.deepEqual(r.get('late'), { ok: false, reason: 'no-samples-around-window' });
  assert.deepEqual(r.get('none'), { ok: false, reason: 'no-tokens' });
  // A request between two samples: no reading of its own (its utilization would drop out of the score).
  assert.deepEqual(
    requestFeatures(s, [{ id: 'short', start: 1200, end: 1900, outputTokens: 48 }]).get('short'),
    {
      ok: false,
      reason: 'no-samples-in-window',
    },
  );
  const holes: Sample[] = [{ t: 0 }, { t: 1000 }, { t: 2000 }];
  assert.deepEqual(requestFeatures(holes, [{ id: 'x', start: 0, end: 2000, outputTokens: 3 }]).get('x'), {
    ok: false,
    reason: 'no-energy-readings',
  });
});
