import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CanonicalValue,
  CoreError,
  canonicalJson,
  decodeReceiptBody,
  encodeReceiptBody,
  openSignedReceipt,
  type ReceiptBody,
  utf8,
} from '@tmb/core';
import fc from 'fast-check';

const body: ReceiptBody = {
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

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CoreError, `threw ${err}`);
    return err.code;
  }
  return 'no error';
}

const withField = (path: string[], value: unknown): Uint8Array => {
  const copy = structuredClone(body) as unknown as Record<string, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (value === undefined) delete at[path.at(-1)!];
  else at[path.at(-1)!] = value;
  return utf8(canonicalJson(copy as CanonicalValue));
};

describe('receipt bodies that must be refused, with their codes', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['not JSON', () => utf8('{"v":1'), 'RECEIPT_MALFORMED'],
    ['invalid UTF-8', () => new Uint8Array([0x7b, 0xff, 0x7d]), 'RECEIPT_MALFORMED'],
    ['whitespace', () => utf8(canonicalJson(body as never).replace(',', ', ')), 'RECEIPT_NOT_CANONICAL'],
    [
      'keys out of order',
      () =>
        utf8(
          `{"v":1,${canonicalJson(body as never)
            .slice(1)
            .replace(',"v":1', '')}`,
        ),
      'RECEIPT_NOT_CANONICAL',
    ],
    [
      'a float',
      () => utf8(canonicalJson(body as never).replace('"seq":0', '"seq":0.5')),
      'RECEIPT_NOT_CANONICAL',
    ],
    [
      'an escaped character that need not be',
      () => utf8(canonicalJson(body as never).replace('"a1"', '"\\u00611"')),
      'RECEIPT_NOT_CANONICAL',
    ],
    [
      'duplicate key',
      () => utf8(canonicalJson(body as never).replace('{"agent":"a1"', '{"agent":"a1","agent":"a1"')),
      'RECEIPT_NOT_CANONICAL',
    ],
    ['version 3', () => withField(['v'], 3), 'RECEIPT_VERSION_UNSUPPORTED'],
    ['version 2 without its members', () => withField(['v'], 2), 'RECEIPT_MALFORMED'],
    ['version as a string', () => withField(['v'], '1'), 'RECEIPT_VERSION_UNSUPPORTED'],
    [
      'version named like an Object.prototype member',
      () => withField(['v'], 'constructor'),
      'RECEIPT_VERSION_UNSUPPORTED',
    ],
    ['version missing', () => withField(['v'], undefined), 'RECEIPT_VERSION_UNSUPPORTED'],
    ['unknown field', () => withField(['surprise'], 1), 'RECEIPT_MALFORMED'],
    // Regression: the key check used `in`, so a member named after an Object.prototype member passed.
    ['unknown field named toString', () => withField(['toString'], 1), 'RECEIPT_MALFORMED'],
    [
      'unknown field named constructor, nested',
      () => withField(['request', 'constructor'], 1),
      'RECEIPT_MALFORMED',
    ],
    [
      'unknown field named __proto__',
      () => utf8(canonicalJson(body as never).replace('{', '{"__proto__":1,')),
      'RECEIPT_MALFORMED',
    ],
    ['missing field', () => withField(['request', 'sha256'], undefined), 'RECEIPT_MALFORMED'],
    ['short hash', () => withField(['response', 'sha256'], 'dd'), 'RECEIPT_MALFORMED'],
    ['upper-case hash', () => withField(['response', 'sha256'], 'DD'.repeat(32)), 'RECEIPT_MALFORMED'],
    ['negative bytes', () => withField(['request', 'bytes'], -1), 'RECEIPT_MALFORMED'],
    ['status out of range', () => withField(['response', 'status'], 99), 'RECEIPT_MALFORMED'],
    ['unknown outcome', () => withField(['outcome'], 'fine'), 'RECEIPT_MALFORMED'],
    ['lower-case method', () => withField(['request', 'method'], 'post'), 'RECEIPT_MALFORMED'],
    ['an array body', () => utf8('[1]'), 'RECEIPT_MALFORMED'],
    ['too large', () => new Uint8Array(16 * 1024 + 1).fill(0x20), 'RECEIPT_TOO_LARGE'],
  ];
  for (const [name, make, expected] of cases) {
    test(name, () =>
      assert.equal(
        code(() => decodeReceiptBody(make())),
        expected,
      ),
    );
  }

  test('the encoder refuses what the decoder would refuse', () => {
    assert.equal(
      code(() => encodeReceiptBody({ ...body, seq: -1 })),
      'RECEIPT_MALFORMED',
    );
  });

  test('wire envelopes: wrong shapes and bad base64url', () => {
    for (const w of [
      null,
      1,
      'x',
      {},
      { body: 1, sig: '' },
      { body: '***', sig: '' },
      { body: 'AA==', sig: '' },
    ]) {
      assert.equal(
        code(() => openSignedReceipt(w)),
        'RECEIPT_MALFORMED',
      );
    }
  });
});

describe('receipt properties', () => {
  test('random bytes only ever give a CoreError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        assert.notEqual(
          code(() => decodeReceiptBody(bytes)),
          'no error',
        );
      }),
    );
  });

  test('a flipped byte anywhere in a valid body is refused or decodes to a different body', () => {
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

  test('round trip: encode then decode gives the same body for valid random fields', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
    fc.assert(
      fc.property(
        hex(32),
        fc.nat(),
        fc.string({ maxLength: 256 }),
        fc.option(fc.string({ maxLength: 256 })),
        fc.constantFrom('complete', 'upstream_error', 'client_aborted'),
        (id, seq, reqId, model, outcome) => {
          const b = {
            ...body,
            id,
            seq,
            request: { ...body.request, id: reqId },
            model: { requested: model, reported: null },
            outcome,
          } as ReceiptBody;
          assert.deepEqual(decodeReceiptBody(encodeReceiptBody(b)), b);
        },
      ),
    );
  });
});
