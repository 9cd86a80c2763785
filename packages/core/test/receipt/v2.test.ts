import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CanonicalValue,
  CLIENT_NONCE_HEADER,
  CLIENT_NONCE_PATTERN,
  CoreError,
  canonicalJson,
  decodeReceiptBody,
  encodeReceiptBody,
  type ReceiptBody,
  type ReceiptBodyV1,
  type ReceiptBodyV2,
  receiptClientNonce,
  receiptServed,
  utf8,
} from '@tmb/core';
import fc from 'fast-check';

const v1: ReceiptBodyV1 = {
  v: 1,
  type: 'tmb.receipt',
  id: 'aa'.repeat(16),
  agent: 'a1',
  key: 'bb'.repeat(32),
  seq: 0,
  request: { id: 'r', method: 'POST', path: '/v1/x', bytes: 1, sha256: 'cc'.repeat(32) },
  response: { status: 200, upstreamStatus: 200, stream: false, bytes: 2, sha256: 'dd'.repeat(32) },
  model: { requested: null, reported: null },
  usage: { prompt: null, completion: null, total: null },
  time: { start: 1, firstByte: null, end: 2 },
  outcome: 'complete',
};
const NONCE = 'n'.repeat(43);
const body: ReceiptBodyV2 = {
  ...v1,
  v: 2,
  client: { nonce: NONCE },
  served: { weights: 'ee'.repeat(32), engine: 'ff'.repeat(32) },
};

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CoreError, `threw ${err}`);
    return err.code;
  }
  return 'no error';
}

/** The v2 body with one member set (value) or removed (undefined), as canonical bytes. */
const withField = (path: string[], value: unknown, from: object = body): Uint8Array => {
  const copy = structuredClone(from) as Record<string, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (value === undefined) delete at[path.at(-1)!];
  else at[path.at(-1)!] = value;
  return utf8(canonicalJson(copy as CanonicalValue));
};

describe('receipt v2', () => {
  test('a v2 body round-trips and its helpers read it', () => {
    const decoded = decodeReceiptBody(encodeReceiptBody(body));
    assert.deepEqual(decoded, body);
    assert.equal(receiptClientNonce(decoded), NONCE);
    assert.deepEqual(receiptServed(decoded), body.served);
  });

  test('a v1 body still decodes; it carries no nonce and names nothing served', () => {
    const decoded = decodeReceiptBody(encodeReceiptBody(v1));
    assert.equal(decoded.v, 1);
    assert.equal(receiptClientNonce(decoded), null);
    assert.equal(receiptServed(decoded), null);
  });

  test('the header name and pattern are the ones the agent and client share', () => {
    assert.equal(CLIENT_NONCE_HEADER, 'tmb-client-nonce');
    assert.ok(CLIENT_NONCE_PATTERN.test('A'.repeat(16)));
    assert.ok(CLIENT_NONCE_PATTERN.test('-_'.repeat(64)));
    assert.ok(!CLIENT_NONCE_PATTERN.test('A'.repeat(15)));
    assert.ok(!CLIENT_NONCE_PATTERN.test('A'.repeat(129)));
    assert.ok(!CLIENT_NONCE_PATTERN.test(`${'A'.repeat(42)}=`));
  });
});

describe('v2 bodies that must be refused, with their codes', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['no client member', () => withField(['client'], undefined), 'RECEIPT_MALFORMED'],
    ['no served member', () => withField(['served'], undefined), 'RECEIPT_MALFORMED'],
    ['client.nonce missing', () => withField(['client', 'nonce'], undefined), 'RECEIPT_MALFORMED'],
    ['served.engine missing', () => withField(['served', 'engine'], undefined), 'RECEIPT_MALFORMED'],
    ['unknown field at the top', () => withField(['surprise'], 1), 'RECEIPT_MALFORMED'],
    ['unknown field in client', () => withField(['client', 'extra'], 1), 'RECEIPT_MALFORMED'],
    ['unknown field in served', () => withField(['served', 'model'], 'x'), 'RECEIPT_MALFORMED'],
    ['client is null', () => withField(['client'], null), 'RECEIPT_MALFORMED'],
    ['served is an array', () => withField(['served'], []), 'RECEIPT_MALFORMED'],
    ['nonce of 15 characters', () => withField(['client', 'nonce'], 'A'.repeat(15)), 'RECEIPT_MALFORMED'],
    ['nonce of 129 characters', () => withField(['client', 'nonce'], 'A'.repeat(129)), 'RECEIPT_MALFORMED'],
    ['empty nonce', () => withField(['client', 'nonce'], ''), 'RECEIPT_MALFORMED'],
    ['nonce with padding', () => withField(['client', 'nonce'], `${'A'.repeat(42)}=`), 'RECEIPT_MALFORMED'],
    ['nonce with + and /', () => withField(['client', 'nonce'], `${'A'.repeat(20)}+/`), 'RECEIPT_MALFORMED'],
    ['nonce with a space', () => withField(['client', 'nonce'], `${'A'.repeat(20)} B`), 'RECEIPT_MALFORMED'],
    [
      'nonce with a newline',
      () => withField(['client', 'nonce'], `${'A'.repeat(20)}\n`),
      'RECEIPT_MALFORMED',
    ],
    ['nonce as a number', () => withField(['client', 'nonce'], 1234567890123456), 'RECEIPT_MALFORMED'],
    [
      'upper-case weights digest',
      () => withField(['served', 'weights'], 'EE'.repeat(32)),
      'RECEIPT_MALFORMED',
    ],
    [
      'weights digest as sha256:<hex>',
      () => withField(['served', 'weights'], `sha256:${'ee'.repeat(32)}`),
      'RECEIPT_MALFORMED',
    ],
    ['short engine digest', () => withField(['served', 'engine'], 'ff'.repeat(31)), 'RECEIPT_MALFORMED'],
    [
      'SHA-384-long weights digest',
      () => withField(['served', 'weights'], 'ee'.repeat(48)),
      'RECEIPT_MALFORMED',
    ],
    ['engine digest as a number', () => withField(['served', 'engine'], 1), 'RECEIPT_MALFORMED'],
    ['v1 carrying client and served', () => withField(['v'], 1), 'RECEIPT_MALFORMED'],
    ['v1 carrying only client', () => withField(['client'], { nonce: null }, v1), 'RECEIPT_MALFORMED'],
    ['a v2 body missing a v1 field', () => withField(['outcome'], undefined), 'RECEIPT_MALFORMED'],
    ['version 3 with the v2 members', () => withField(['v'], 3), 'RECEIPT_VERSION_UNSUPPORTED'],
  ];
  for (const [name, make, expected] of cases) {
    test(name, () =>
      assert.equal(
        code(() => decodeReceiptBody(make())),
        expected,
      ),
    );
  }

  test('the encoder refuses what the decoder refuses, and any other version', () => {
    assert.equal(
      code(() => encodeReceiptBody({ ...body, client: { nonce: 'short' } })),
      'RECEIPT_MALFORMED',
    );
    assert.equal(
      code(() => encodeReceiptBody({ ...body, v: 3 } as unknown as ReceiptBody)),
      'RECEIPT_VERSION_UNSUPPORTED',
    );
    const { served: _, ...noServed } = body;
    assert.equal(
      code(() => encodeReceiptBody(noServed as unknown as ReceiptBody)),
      'RECEIPT_MALFORMED',
    );
  });
});

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const nonce = fc.stringMatching(/^[A-Za-z0-9_-]{16,128}$/);
const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
// Plain objects, as a decoder returns them (fast-check's default records have a null prototype).
const record = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) =>
  fc.record(shape, { noNullPrototype: true });

/** Arbitrary v1 bodies: every member varied within what v1 allows. */
const v1Body: fc.Arbitrary<ReceiptBodyV1> = record({
  v: fc.constant(1 as const),
  type: fc.constant('tmb.receipt' as const),
  id: hex(32),
  agent: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
  key: hex(64),
  seq: fc.nat(),
  request: record({
    id: fc.string({ maxLength: 256 }),
    method: fc.stringMatching(/^[A-Z]{1,16}$/),
    path: fc.string({ maxLength: 300 }),
    bytes: fc.nat(),
    sha256: hex(64),
  }),
  response: record({
    status: nullable(fc.integer({ min: 100, max: 999 })),
    upstreamStatus: nullable(fc.integer({ min: 100, max: 999 })),
    stream: fc.boolean(),
    bytes: fc.nat(),
    sha256: hex(64),
  }),
  model: record({
    requested: nullable(fc.string({ maxLength: 256 })),
    reported: nullable(fc.string({ maxLength: 256 })),
  }),
  usage: record({ prompt: nullable(fc.nat()), completion: nullable(fc.nat()), total: nullable(fc.nat()) }),
  time: record({
    start: fc.maxSafeNat(),
    firstByte: nullable(fc.maxSafeNat()),
    end: fc.maxSafeNat(),
  }),
  outcome: fc.constantFrom(
    'complete',
    'upstream_error',
    'upstream_timeout',
    'client_aborted',
    'rejected_too_large',
  ),
});

const v2Body: fc.Arbitrary<ReceiptBodyV2> = fc
  .tuple(v1Body, nullable(nonce), record({ weights: nullable(hex(64)), engine: nullable(hex(64)) }))
  .map(([b, n, served]) => ({ ...b, v: 2 as const, client: { nonce: n }, served }));

describe('receipt v2 properties', () => {
  test('round trip: any valid v2 body encodes and decodes to itself', () => {
    fc.assert(
      fc.property(v2Body, (b) => {
        const decoded = decodeReceiptBody(encodeReceiptBody(b));
        assert.deepEqual(decoded, b);
        assert.equal(receiptClientNonce(decoded), b.client.nonce);
        assert.deepEqual(receiptServed(decoded), b.served);
      }),
    );
  });

  test('any valid v1 body stays decodable, with no nonce and nothing served', () => {
    fc.assert(
      fc.property(v1Body, (b) => {
        const decoded = decodeReceiptBody(encodeReceiptBody(b));
        assert.deepEqual(decoded, b);
        assert.equal(receiptClientNonce(decoded), null);
        assert.equal(receiptServed(decoded), null);
      }),
    );
  });

  test('a nonce is accepted exactly when it matches CLIENT_NONCE_PATTERN', () => {
    fc.assert(
      fc.property(
        fc.oneof(nonce, fc.string({ maxLength: 140 }), fc.string({ unit: 'binary', maxLength: 40 })),
        (n) => {
          const got = code(() => decodeReceiptBody(withField(['client', 'nonce'], n)));
          assert.equal(got, CLIENT_NONCE_PATTERN.test(n) ? 'no error' : 'RECEIPT_MALFORMED');
        },
      ),
    );
  });

  test('a flipped byte anywhere in a valid v2 body is refused or decodes to a different body', () => {
    const good = encodeReceiptBody(body);
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = Uint8Array.from(good);
        bad[at]! ^= x;
        try {
          assert.notDeepEqual(decodeReceiptBody(bad), body);
        } catch (err) {
          assert.ok(err instanceof CoreError);
        }
      }),
    );
  });
});
