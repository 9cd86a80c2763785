import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '@tmb/stats';
import { main } from '../../src/main.ts';
import type { Io } from '../../src/registry.ts';

function run(argv: string[], stdin: string): Promise<{ code: number; out: string; err: string }> {
  const io: Io & { out: string; err: string } = {
    out: '',
    err: '',
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
    stdin: async () => new TextEncoder().encode(stdin),
  };
  return main(argv, io).then((code) => ({ code, out: io.out, err: io.err }));
}

test('stats fit --dist beta --json prints alpha, beta and the log-likelihood', async () => {
  const rng = createRng(1);
  const lines = Array.from({ length: 5000 }, () => String(rng.beta(2, 5))).join('\n');
  const r = await run(['stats', 'fit', '--dist', 'beta', '--json'], `${lines}\n`);
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out);
  assert.equal(o.dist, 'beta');
  assert.deepEqual(Object.keys(o.params).sort(), ['alpha', 'beta']);
  assert.ok(Math.abs(o.params.alpha - 2) < 0.15 && Math.abs(o.params.beta - 5) < 0.4);
  assert.ok(Number.isFinite(o.logLikelihood));
});

test('stats fit of mixtures prints weights and components', async () => {
  const rng = createRng(2);
  const xs = Array.from({ length: 4000 }, () =>
    rng.next() < 0.5 ? 100 + 5 * rng.normal() : 200 + 5 * rng.normal(),
  );
  const g = JSON.parse(
    (await run(['stats', 'fit', '--dist', 'gaussian-mixture', '--json'], xs.join('\n'))).out,
  );
  assert.equal(g.dist, 'gaussian-mixture');
  assert.equal(g.params.weights.length, 2);
  assert.ok(
    Math.abs(g.params.components[0].mean - 100) < 1 && Math.abs(g.params.components[1].mean - 200) < 1,
  );
  const ys = Array.from({ length: 4000 }, () => (rng.next() < 0.5 ? rng.beta(2, 18) : rng.beta(18, 2)));
  const b = JSON.parse((await run(['stats', 'fit', '--dist', 'beta-mixture', '--json'], ys.join('\n'))).out);
  assert.deepEqual(Object.keys(b.params.components[0]).sort(), ['alpha', 'beta']);
  const text = await run(['stats', 'fit', '--dist', 'beta'], '0.1\n0.5\n0.3\n');
  assert.match(text.out, /^beta fit of 3 samples\n/);
  assert.match(text.out, /log-likelihood -?\d/);
});

test('bad data and bad usage exit with the documented codes', async () => {
  const deg = await run(['stats', 'fit', '--dist', 'beta'], '0.5\n0.5\n0.5\n');
  assert.equal(deg.code, 1);
  assert.match(deg.err, /STATS_DEGENERATE/);
  const few = await run(['stats', 'fit', '--dist', 'gaussian-mixture'], '1\n2\n');
  assert.equal(few.code, 1);
  assert.match(few.err, /STATS_TOO_FEW_SAMPLES/);
  assert.equal((await run(['stats', 'fit', '--dist', 'beta'], '0.5\nNaN\n')).code, 2);
  assert.equal((await run(['stats', 'fit', '--dist', 'beta'], '0.5\n1.5\n')).code, 1);
  assert.equal((await run(['stats', 'fit', '--dist', 'poisson'], '1\n')).code, 2);
  assert.equal((await run(['stats', 'fit'], '1\n')).code, 2);
  assert.equal((await run(['stats', 'frobnicate'], '')).code, 2);
});
