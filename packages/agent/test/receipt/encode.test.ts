import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CoreError,
  decodeReceiptBody,
  encodeReceiptBody,
  OUTCOMES,
  type ReceiptBodyV2,
  type ReceiptServed,
  receiptSigningMessage,
} from '@tmb/core';
import fc from 'fast-check';
import { ReceiptEncoder } from '../../src/receipt/encode.ts';
import type { ReceiptFields } from '../../src/receipt/sign.ts';

// The agent's own receipt writer must give exactly core's bytes (encodeReceiptBody), and refuse
// exactly what core refuses: a receipt it signs is always one that every verifier decodes.

const KEY = 'ab'.repeat(32);
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const served = fc.record({
  weights: fc.option(hex64, { nil: null }),
  engine: fc.option(hex64, { nil: null }),
});
// Mostly valid values, sometimes ones core refuses (too long, wrong pattern, negative, fractional).
const text = (max: number) =>
  fc.oneof(
    fc.string({ maxLength: 40, unit: 'binary' }),
    fc.string({ minLength: max + 1, maxLength: max + 2 }),
  );
const count = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.constantFrom(-1, 0.5, -0, Number.MAX_SAFE_INTEGER + 1, Number.NaN),
);
const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 3 });
const status = fc.oneof(fc.integer({ min: 100, max: 999 }), fc.constantFrom(99, 1000, 200.5));
const fields: fc.Arbitrary<ReceiptFields> = fc.record({
  id: fc.oneof(fc.stringMatching(/^[0-9a-f]{32}$/), fc.constantFrom('ABCDEF0123456789abcdef0123456789', 'x')),
  request: fc.record({
    id: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), text(256)),
    method: fc.oneof(
      fc.constantFrom('GET', 'POST', 'M-SEARCH', 'get', ''),
      fc.stringMatching(/^[A-Z]{1,20}$/),
    ),
    path: fc.oneof(fc.webPath(), fc.string({ unit: 'binary', maxLength: 30 })),
    bytes: count,
    sha256: fc.oneof(hex64, fc.constant('AB'.repeat(32))),
  }),
  response: fc.record({
    status: nullable(status),
    upstreamStatus: nullable(status),
    stream: fc.boolean(),
    bytes: count,
    sha256: hex64,
  }),
  model: fc.record({ requested: nullable(text(256)), reported: nullable(text(256)) }),
  usage: fc.record({ prompt: nullable(count), completion: nullable(count), total: nullable(count) }),
  time: fc.record({ start: count, firstByte: nullable(count), end: count }),
  outcome: fc.oneof(fc.constantFrom(...OUTCOMES), fc.constant('done')),
  client: fc.record({
    nonce: nullable(
      fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{16,128}$/), fc.constantFrom('short', `${'a'.repeat(20)}=`)),
    ),
  }),
}) as fc.Arbitrary<ReceiptFields>;

function core(agent: string, srv: ReceiptServed, f: ReceiptFields, seq: number): Uint8Array | 'refused' {
  const body: ReceiptBodyV2 = { v: 2, type: 'tmb.receipt', agent, key: KEY, seq, ...f, served: srv };
  try {
    return encodeReceiptBody(body);
  } catch (err) {
    assert.ok(err instanceof CoreError);
    return 'refused';
  }
}

test("the agent's encoder writes core's bytes and refuses what core refuses", () => {
  fc.assert(
    fc.property(served, fields, fc.oneof(fc.nat(), fc.constant(-1)), (srv, f, seq) => {
      const encoder = new ReceiptEncoder('gpu-01', KEY, srv);
      const want = core('gpu-01', srv, f, seq);
      let got: { message: Buffer; body: Uint8Array } | 'refused';
      try {
        got = encoder.encode(f, seq);
      } catch (err) {
        assert.ok(err instanceof CoreError && err.code === 'RECEIPT_MALFORMED', String(err));
        got = 'refused';
      }
      if (want === 'refused' || got === 'refused') {
        assert.equal(got, want);
        return;
      }
      assert.deepEqual(got.body, want);
      assert.deepEqual(new Uint8Array(got.message), receiptSigningMessage(want));
      decodeReceiptBody(got.body); // what a verifier does with it
    }),
    { numRuns: 2_000 },
  );
});

test('an agent name, key id or served digest no receipt may carry is refused when the encoder is made', () => {
  const none = { weights: null, engine: null };
  assert.throws(() => new ReceiptEncoder('has space', KEY, none), { code: 'RECEIPT_MALFORMED' });
  assert.throws(() => new ReceiptEncoder('gpu-01', 'AB'.repeat(32), none), { code: 'RECEIPT_MALFORMED' });
  assert.throws(
    () => new ReceiptEncoder('gpu-01', KEY, { weights: `sha256:${'a'.repeat(64)}`, engine: null }),
    {
      code: 'RECEIPT_MALFORMED',
    },
  );
});
