import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError, canonicalJson, fromHex, jcs, jcsBytes, toHex } from '@tmb/core';
import fc from 'fast-check';

// Known answers: the bytes stats' own canonical JSON wrote before issue 11 moved it here
// (git show c72eedf:packages/stats/src/profile/canonical.ts), so profiles and telemetry batches
// signed or chained before the move still verify.

const ODD = {
  é: 1,
  a: [1e21, 1e-7, -0, 0.1 + 0.2, 'x\u2028\ud800"'],
  A: null,
  b: true,
  '\u{1f600}': 'e',
  '\uff61': 2,
};
const ODD_HEX =
  '7b2241223a6e756c6c2c2261223a5b31652b32312c31652d372c302c302e33303030303030303030303030303030342c2278e280a85c75643830305c22225d2c2262223a747275652c22c3a9223a312c22f09f9880223a2265222c22efbda1223a327d';

test('jcs: known answers (RFC 8785 order by UTF-16 code units, ECMAScript numbers, escapes)', () => {
  assert.equal(toHex(jcsBytes(ODD)), ODD_HEX);
  assert.equal(
    jcs({
      v: 1,
      key: { model: 'm', gpu: 'H200' },
      features: { e: { mu: -1.25e-7, sigma: 0.5 } },
      note: undefined,
    }),
    '{"features":{"e":{"mu":-1.25e-7,"sigma":0.5}},"key":{"gpu":"H200","model":"m"},"v":1}',
  );
  assert.equal(
    jcs({ v: 1, seq: 0, gpu: [{ t: 1.5, gpu: 0, powerW: 62.87 }], proc: [] }),
    '{"gpu":[{"gpu":0,"powerW":62.87,"t":1.5}],"proc":[],"seq":0,"v":1}',
  );
  assert.deepEqual(jcsBytes('é'), fromHex('22c3a922'));
});

test('jcs refuses what JSON cannot carry, with BAD_ENCODING', () => {
  const bad: unknown[] = [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    { a: [Number.NEGATIVE_INFINITY] },
    10n,
    () => 1,
    undefined,
    [undefined],
    Symbol('s'),
  ];
  for (const v of bad) assert.throws(() => jcs(v), { name: 'CoreError', code: 'BAD_ENCODING' }, String(v));
});

test('canonicalJson (receipts) keeps its integer-only rule and its code', () => {
  assert.equal(canonicalJson({ b: 1, a: [-0, 'x'] }), '{"a":[0,"x"],"b":1}');
  for (const v of [1.5, 2 ** 53, { a: undefined }, { a: Number.NaN }] as never[])
    assert.throws(() => canonicalJson(v), { name: 'CoreError', code: 'RECEIPT_MALFORMED' });
  // jcs leaves an undefined member out; a receipt may not hold one at all.
  assert.equal(jcs({ a: undefined, b: 1 }), '{"b":1}');
});

test('property: jcs is JSON of the same value, sorted, and a fixed point', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const text = jcs(v);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(v)));
      assert.equal(jcs(JSON.parse(text)), text);
    }),
  );
});

test('property: on integer-only values the receipt form and jcs write the same bytes', () => {
  const ints = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.string(),
      fc.array(tie('v')),
      fc.dictionary(fc.string(), tie('v')),
    ),
  })).v;
  fc.assert(
    fc.property(ints, (v) => {
      assert.equal(canonicalJson(v as never), jcs(v));
    }),
  );
});

test('errors carry their class: a CoreError for every refusal', () => {
  try {
    jcs(Number.NaN);
    assert.fail('no throw');
  } catch (e) {
    assert.ok(e instanceof CoreError);
    assert.match((e as Error).message, /non-finite number NaN/);
  }
});
