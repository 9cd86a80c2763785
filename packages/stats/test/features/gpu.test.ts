import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gpuNameMatches, type Sample, samplesAround, windowGpu } from '@tmb/stats';
import fc from 'fast-check';

const A = 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660';
const B = 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52';
const H100 = 'NVIDIA H100 80GB HBM3';

test('the match rule: equal once ASCII letters are folded to one case, nothing else', () => {
  assert.ok(gpuNameMatches(H100, H100));
  assert.ok(gpuNameMatches('nvidia h100 80gb hbm3', H100));
  for (const other of [
    'NVIDIA H100',
    'NVIDIA H100 80GB HBM3 ',
    'NVIDIA  H100 80GB HBM3',
    'NVIDIA H100 PCIe',
    'NVIDIA A100-SXM4-80GB',
    '',
  ])
    assert.equal(gpuNameMatches(other, H100), false, other);
  // Only ASCII folds: a look-alike outside ASCII is another name.
  assert.equal(gpuNameMatches('NVİDIA H100 80GB HBM3', H100), false);
});

test('windowGpu: match, mismatch, UUID change, unnamed', () => {
  const s = (t: number, id: Partial<Sample>): Sample => ({ t, energyJ: t, ...id });
  assert.deepEqual(windowGpu([s(0, { name: H100, uuid: A }), s(1, { name: H100, uuid: A })], H100), {
    status: 'match',
    name: H100,
    uuid: A,
    named: 2,
    samples: 2,
  });
  assert.deepEqual(windowGpu([s(0, { name: H100 }), s(1, { name: 'NVIDIA L4' })], H100), {
    status: 'mismatch',
    name: 'NVIDIA L4',
    gpuModel: H100,
    t: 1,
  });
  assert.deepEqual(
    windowGpu([s(0, { name: H100, uuid: A }), s(1, {}), s(2, { name: H100, uuid: B })], H100),
    {
      status: 'changed',
      uuids: [A, B],
      t: 2,
    },
  );
  assert.deepEqual(windowGpu([s(0, { uuid: A }), s(1, {})], H100), { status: 'unnamed', samples: 2 });
  assert.deepEqual(windowGpu([], H100), { status: 'unnamed', samples: 0 });
});

test('samplesAround: the window plus one sample on each side', () => {
  const xs = [0, 100, 200, 300, 400].map((t) => ({ t }));
  assert.deepEqual(
    samplesAround(xs, 150, 250).map((x) => x.t),
    [100, 200, 300],
  );
  assert.deepEqual(
    samplesAround(xs, 100, 300).map((x) => x.t),
    [0, 100, 200, 300, 400],
  );
  assert.deepEqual(
    samplesAround(xs, -50, 10).map((x) => x.t),
    [0, 100],
  );
  assert.deepEqual(
    samplesAround(xs, 500, 600).map((x) => x.t),
    [400],
  );
  assert.deepEqual(samplesAround([], 0, 1), []);
});

test('property: one sample naming another GPU anywhere in a window always gives mismatch', () => {
  fc.assert(
    fc.property(fc.nat(20), fc.nat(20), fc.string({ minLength: 1, maxLength: 30 }), (n, at, other) => {
      fc.pre(!gpuNameMatches(other, H100));
      const xs: Sample[] = Array.from({ length: n + 1 }, (_, i) => ({ t: i, name: H100, uuid: A }));
      xs[at % xs.length] = { t: at % xs.length, name: other, uuid: A };
      assert.equal(windowGpu(xs, H100).status, 'mismatch');
    }),
  );
});
