import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ParseError } from '../../src/errors.ts';
import { parseAttest } from '../../src/tpm/attest.ts';
import { parsePcrsFile } from '../../src/tpm/pcrfile.ts';
import { parseTpm2bPublic, parseTpmtPublic } from '../../src/tpm/public.ts';
import { verifyQuote } from '../../src/tpm/quote.ts';
import { parseSignature } from '../../src/tpm/signature.ts';
import { eccStoragePublic, rsaStoragePublic } from './encode.ts';
import { quoteFiles } from './vectors.ts';

const PARSERS: [string, (b: Uint8Array) => unknown][] = [
  ['parseAttest', parseAttest],
  ['parseSignature', parseSignature],
  ['parseTpm2bPublic', parseTpm2bPublic],
  ['parseTpmtPublic', parseTpmtPublic],
  ['parsePcrsFile', parsePcrsFile],
];

function onlyParseError(parse: (b: Uint8Array) => unknown, bytes: Uint8Array): void {
  try {
    parse(bytes);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
}

const q = quoteFiles('ecc256', 1);
/** Real bytes with a few random positions overwritten: reaches deeper than uniform noise. */
const mutated = (b: Uint8Array) =>
  fc
    .array(fc.tuple(fc.nat({ max: b.length - 1 }), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    })
    .map((edits) => {
      const out = b.slice();
      for (const [i, v] of edits) out[i] = v;
      return out;
    });

for (const [name, parse] of PARSERS) {
  test(`${name}: random bytes only ever give a ParseError`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (b) => onlyParseError(parse, b)),
      { numRuns: 500 },
    );
  });
}

test('every parser: mutated real structures only ever give a ParseError', () => {
  const samples: [(b: Uint8Array) => unknown, Uint8Array][] = [
    [parseAttest, q.attest],
    [parseSignature, q.signature],
    [parseTpm2bPublic, q.akPublic],
    [parsePcrsFile, q.pcrs],
  ];
  for (const [parse, bytes] of samples)
    fc.assert(
      fc.property(mutated(bytes), (b) => onlyParseError(parse, b)),
      { numRuns: 300 },
    );
});

test('verifyQuote never throws and never passes a mutated attestation', () => {
  fc.assert(
    fc.property(mutated(q.attest), (attest) => {
      const r = verifyQuote({ ...q, attest, expectedQualifyingData: q.nonce });
      assert.equal(
        r.ok,
        attest.every((v, i) => v === q.attest[i]),
      );
    }),
    { numRuns: 300 },
  );
});

test('verifyQuote never throws on random evidence of every kind', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 700 }),
      (attest, signature, akPublic, pcrs) => {
        const r = verifyQuote({ attest, signature, akPublic, pcrs, expectedQualifyingData: q.nonce });
        assert.equal(r.ok, false);
      },
    ),
    { numRuns: 300 },
  );
});

test('TPMT_PUBLIC round-trip: encoded RSA and ECC storage keys parse back to their fields', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 256, maxLength: 256 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.nat({ max: 0xffffffff }),
      (modulus, x, y, attributes) => {
        const rsa = parseTpmtPublic(rsaStoragePublic(modulus, attributes));
        assert.ok(rsa.type === 'rsa');
        assert.deepEqual(
          [rsa.modulus, rsa.attributes, rsa.keyBits, rsa.symmetric],
          [modulus, attributes, 2048, { keyBits: 128 }],
        );
        const ecc = parseTpmtPublic(eccStoragePublic(x, y, attributes));
        assert.ok(ecc.type === 'ecc');
        assert.deepEqual([ecc.x, ecc.y, ecc.attributes, ecc.curve], [x, y, attributes, 0x0003]);
        assert.deepEqual(ecc.bytes, eccStoragePublic(x, y, attributes));
      },
    ),
    { numRuns: 200 },
  );
});
