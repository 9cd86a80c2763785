import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digamma, logGamma, trigamma } from '@tmb/stats';

const EULER = 0.5772156649015329;
const close = (a: number, b: number, tol = 1e-13) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('logGamma matches factorials and Γ(1/2) = √π', () => {
  close(logGamma(1), 0);
  close(logGamma(10), Math.log(362880));
  close(logGamma(0.5), 0.5 * Math.log(Math.PI));
  close(logGamma(171), 706.5730622457874);
  close(logGamma(1e-8), -Math.log(1e-8) - EULER * 1e-8, 1e-12);
});

test('digamma known values (A&S 6.3.2, 6.3.3)', () => {
  close(digamma(1), -EULER);
  close(digamma(0.5), -EULER - 2 * Math.log(2));
  close(digamma(100), 4.600161852738087);
  close(digamma(2) - digamma(1), 1);
});

test('trigamma known values (A&S 6.4.2)', () => {
  close(trigamma(1), Math.PI ** 2 / 6);
  close(trigamma(0.5), Math.PI ** 2 / 2);
  // ψ'(x) = 1/x² + ψ'(1+x) and ψ'(1+x) ≈ π²/6 - 2ζ(3)x for small x
  close(trigamma(1e-4), 1e8 + Math.PI ** 2 / 6 - 2 * 1.2020569031595942e-4, 1e-15);
});

test('non-positive arguments give NaN', () => {
  for (const f of [logGamma, digamma, trigamma]) {
    assert.ok(Number.isNaN(f(0)));
    assert.ok(Number.isNaN(f(-1.5)));
    assert.ok(Number.isNaN(f(Number.NaN)));
  }
});
