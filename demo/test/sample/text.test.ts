import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CHEAP_LATENCY_FACTOR, resolveOptions } from '../../src/sample/options.ts';
import {
  embeddingVector,
  generateTokens,
  hashOf,
  naturalLength,
  responseIdentity,
} from '../../src/sample/text.ts';

test('known answer: the first honest and cheap tokens for a fixed seed (changing them changes the demo)', () => {
  const seed = hashOf('known');
  assert.equal(generateTokens(seed, 'honest', 6).join(''), KNOWN_HONEST);
  assert.equal(generateTokens(seed, 'cheap', 6).join(''), KNOWN_CHEAP);
});
const KNOWN_HONEST = 'Boundary ledger appraisal engine measurement throughput.';
const KNOWN_CHEAP = 'It fine so it done a.';

test('natural lengths: honest 24..64 tokens, cheap 8..16', () => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      const h = naturalLength(hashOf(s), 'honest');
      const c = naturalLength(hashOf(s), 'cheap');
      assert.ok(h >= 24 && h <= 64 && c >= 8 && c <= 16);
    }),
  );
});

test('property: tokens are a prefix of a longer run, and the last one ends a sentence', () => {
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 1, max: 200 }), (s, n) => {
      const long = generateTokens(hashOf(s), 'honest', n + 10);
      const short = generateTokens(hashOf(s), 'honest', n);
      assert.deepEqual(short.slice(0, -1), long.slice(0, n - 1));
      assert.ok(short.at(-1)!.endsWith('.'));
      assert.ok(!short[0]!.startsWith(' '));
    }),
  );
});

test('response ids and created times are deterministic in the bytes and the variant', () => {
  const b = new TextEncoder().encode('{"a":1}');
  assert.deepEqual(responseIdentity('chatcmpl', 'honest', b), responseIdentity('chatcmpl', 'honest', b));
  assert.notEqual(responseIdentity('chatcmpl', 'honest', b).id, responseIdentity('chatcmpl', 'cheap', b).id);
  assert.match(responseIdentity('cmpl', 'honest', b).id, /^cmpl-[0-9a-f]{24}$/);
});

test('embedding vectors are float32 values of unit length', () => {
  const v = embeddingVector('m', 'honest', 'x', 64);
  assert.ok(v.every((x) => Math.fround(x) === x));
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
});

test('the cheap variant runs faster by CHEAP_LATENCY_FACTOR; bad options are refused', () => {
  assert.equal(
    resolveOptions({ model: 'm', tokenLatencyMs: 10, variant: 'cheap' }).tokenLatencyMs,
    10 * CHEAP_LATENCY_FACTOR,
  );
  assert.equal(resolveOptions({ model: 'm' }).tokenLatencyMs, 10);
  assert.throws(() => resolveOptions({ model: 'm', tokenLatencyMs: -1 }), RangeError);
  assert.throws(() => resolveOptions({ model: '' }), RangeError);
});
