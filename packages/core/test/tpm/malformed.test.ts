import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from '../../src/errors.ts';
import { parseAttest } from '../../src/tpm/attest.ts';
import { parsePcrsFile } from '../../src/tpm/pcrfile.ts';
import { parseTpm2bPublic, tpmName } from '../../src/tpm/public.ts';
import { type QuoteInput, verifyQuote } from '../../src/tpm/quote.ts';
import { parseSignature } from '../../src/tpm/signature.ts';
import { AK_KINDS, quoteFiles } from './vectors.ts';

// Adversarial inputs built from real tpm2_quote output: every byte flipped, every truncation,
// an extra byte, and hand-made wrong ids and sizes, each asserting the exact code it must give.

const failed = (input: QuoteInput) =>
  verifyQuote(input)
    .checks.filter((c) => c.status === 'fail')
    .map((c) => c.code);

function withByte(b: Uint8Array, at: number, value: number): Uint8Array {
  const out = b.slice();
  out[at] = value;
  return out;
}

function put16(b: Uint8Array, at: number, value: number): Uint8Array {
  const out = b.slice();
  out[at] = value >> 8;
  out[at + 1] = value & 0xff;
  return out;
}

function parseCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ParseError, `a ParseError, got ${err}`);
    return err.code;
  }
  return 'parsed';
}

for (const kind of AK_KINDS) {
  const q = quoteFiles(kind, 1);
  const base = { ...q, akName: tpmName(parseTpm2bPublic(q.akPublic)), expectedQualifyingData: q.nonce };

  test(`${kind}: every byte of the attestation flipped fails the signature`, () => {
    for (let i = 0; i < q.attest.length; i++) {
      const codes = failed({ ...base, attest: withByte(q.attest, i, q.attest[i]! ^ 0x01) });
      assert.ok(codes.includes('QUOTE_SIGNATURE_INVALID'), `byte ${i}: ${codes}`);
    }
  });

  test(`${kind}: every byte of the signature flipped fails`, () => {
    for (let i = 0; i < q.signature.length; i++) {
      const codes = failed({ ...base, signature: withByte(q.signature, i, q.signature[i]! ^ 0x01) });
      assert.ok(codes.length > 0, `byte ${i} passed`);
    }
  });

  test(`${kind}: every byte of the AK public area flipped fails against the enrolled name`, () => {
    for (let i = 0; i < q.akPublic.length; i++) {
      const codes = failed({ ...base, akPublic: withByte(q.akPublic, i, q.akPublic[i]! ^ 0x01) });
      assert.ok(codes.length > 0, `byte ${i} passed`);
    }
  });

  test(`${kind}: every byte of the PCR values file flipped fails or leaves the values unchanged`, () => {
    const values = parsePcrsFile(q.pcrs);
    for (let i = 0; i < q.pcrs.length; i++) {
      const pcrs = withByte(q.pcrs, i, q.pcrs[i]! ^ 0x01);
      const codes = failed({ ...base, pcrs });
      if (codes.length === 0)
        assert.deepEqual(parsePcrsFile(pcrs), values, `byte ${i} passed with other values`);
    }
  });

  test(`${kind}: every truncation and one extra byte of each structure is a named ParseError`, () => {
    const parsers: [Uint8Array, (b: Uint8Array) => unknown][] = [
      [q.attest, parseAttest],
      [q.signature, parseSignature],
      [q.akPublic, parseTpm2bPublic],
      [q.pcrs, parsePcrsFile],
    ];
    for (const [bytes, parse] of parsers) {
      for (let n = 0; n < bytes.length; n++) {
        const code = parseCode(() => parse(bytes.subarray(0, n)));
        assert.ok(['TRUNCATED', 'TRAILING_BYTES', 'LENGTH_TOO_LARGE'].includes(code), `length ${n}: ${code}`);
      }
      assert.equal(
        parseCode(() => parse(new Uint8Array([...bytes, 0]))),
        'TRAILING_BYTES',
      );
    }
    assert.ok(failed({ ...base, attest: q.attest.subarray(0, 50) }).includes('TRUNCATED'));
  });
}

// Offsets in the ECC P-256 quote (TPMS_ATTEST, Part 2 10.12.12): magic 0, type 4, qualifiedSigner
// size 6 (34 bytes), extraData size 42 (32), clock 76, resetCount 84, restartCount 88, safe 92,
// firmwareVersion 93, pcrSelect count 101, hash 105, sizeofSelect 107, pcrSelect 108, pcrDigest size 111.
const q = quoteFiles('ecc256', 1);
const base = { ...q, expectedQualifyingData: q.nonce };

test('attestation fields: wrong magic, type, safe, sizes and ids give their exact codes', () => {
  assert.equal(q.attest.length, 145);
  assert.deepEqual(failed({ ...base, attest: withByte(q.attest, 0, 0xfe) }), [
    'QUOTE_MAGIC_INVALID',
    'QUOTE_SIGNATURE_INVALID',
  ]);
  // 0x8017 (TPM_ST_ATTEST_CERTIFY) is parsed as a certify arm: the quote's PCR info is then trailing bytes.
  assert.deepEqual(failed({ ...base, attest: put16(q.attest, 4, 0x8017) }), [
    'TRAILING_BYTES',
    'QUOTE_TYPE_INVALID',
    'QUOTE_SIGNATURE_INVALID',
  ]);
  assert.deepEqual(failed({ ...base, attest: withByte(q.attest, 92, 0) }), [
    'QUOTE_SIGNATURE_INVALID',
    'QUOTE_CLOCK_UNSAFE',
  ]);
  assert.equal(
    parseCode(() => parseAttest(withByte(q.attest, 92, 2))),
    'TPM_VALUE_INVALID',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 6, 0xffff))),
    'LENGTH_TOO_LARGE',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 42, 67))),
    'LENGTH_TOO_LARGE',
  );
  // One byte more of extraData shifts the fields after it: the safe byte then reads 0x20.
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 42, 33))),
    'TPM_VALUE_INVALID',
  );
  assert.equal(
    parseCode(() => parseAttest(withByte(q.attest, 104, 5))),
    'TPM_PCR_SELECTION_INVALID',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 105, 0x0099))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseAttest(withByte(q.attest, 107, 5))),
    'TPM_PCR_SELECTION_INVALID',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 111, 33))),
    'TRUNCATED',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 111, 65))),
    'LENGTH_TOO_LARGE',
  );
  assert.equal(
    parseCode(() => parseAttest(put16(q.attest, 111, 31))),
    'TRAILING_BYTES',
  );
  // A bank listed twice.
  const twice = new Uint8Array([
    ...q.attest.subarray(0, 104),
    2,
    0,
    0x0b,
    3,
    1,
    0,
    0,
    0,
    0x0b,
    3,
    0,
    0,
    0x80,
  ]);
  assert.equal(
    parseCode(() => parseAttest(twice)),
    'TPM_PCR_SELECTION_INVALID',
  );
});

test('a TPM2B_ATTEST wrapping parses like the bare TPMS_ATTEST and verifies', () => {
  const wrapped = new Uint8Array([0, q.attest.length, ...q.attest]);
  assert.deepEqual(parseAttest(wrapped).extraData, q.nonce);
  assert.equal(verifyQuote({ ...base, attest: wrapped }).ok, true);
});

test('signature fields: NULL or unknown algorithm, SHA-1, bad sizes', () => {
  const s = q.signature; // sigAlg 0, hash 2, r size 4 (32), r 6, s size 38 (32), s 40
  assert.equal(
    parseCode(() => parseSignature(put16(s, 0, 0x0010))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseSignature(put16(s, 0, 0x001a))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseSignature(put16(s, 2, 0x0004))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseSignature(put16(s, 2, 0x0099))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseSignature(put16(s, 4, 0x00ff))),
    'LENGTH_TOO_LARGE',
  );
  assert.equal(
    parseCode(() => parseSignature(put16(s, 38, 40))),
    'TRUNCATED',
  );
  assert.equal(
    parseCode(() => parseSignature(new Uint8Array([0, 0x18, 0, 0x0b, 0, 0, 0, 0]))),
    'TPM_VALUE_INVALID',
  );
  assert.deepEqual(failed({ ...base, signature: put16(s, 0, 0x0014) }), ['TRAILING_BYTES']);
  // The AK is ECDSA/SHA-256: a well-formed RSASSA signature is the wrong scheme.
  const rsa = quoteFiles('rsassa', 1);
  assert.deepEqual(failed({ ...base, signature: rsa.signature }), ['QUOTE_SIGNATURE_SCHEME_MISMATCH']);
});

test('public area fields: type, nameAlg, curve, key sizes, outer size', () => {
  const p = q.akPublic; // size 0, type 2, nameAlg 4, attributes 6, authPolicy 10, symmetric 12, scheme 14, hash 16, curve 18, kdf 20, x 22
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 2, 0x0008))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 4, 0x0099))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 12, 0x0025))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 14, 0x001a))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 18, 0x0005))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 18, 0x0004))),
    'TPM_VALUE_INVALID',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 0, p.length - 1))),
    'TRUNCATED',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 0, p.length - 3))),
    'TRAILING_BYTES',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(p, 0, 0x1000))),
    'LENGTH_TOO_LARGE',
  );
  const r = quoteFiles('rsassa', 1).akPublic; // keyBits at 18
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(r, 18, 1024))),
    'TPM_VALUE_INVALID',
  );
  assert.equal(
    parseCode(() => parseTpm2bPublic(put16(r, 18, 3072))),
    'TPM_VALUE_INVALID',
  );
  // An AK that is not restricted (attributes bit 16 cleared) is named, even though its key signs.
  const unrestricted = withByte(p, 7, p[7]! & ~0x01);
  assert.deepEqual(failed({ ...base, akPublic: unrestricted }), ['AK_ATTRIBUTES_INVALID']);
});

test('PCR values file: bank count, unknown hash, digest sizes and counts', () => {
  const f = q.pcrs; // count 0 (u32le), hash 4, sizeofSelect 6, select 7; lists 132; list 0 count 136; digest 0 size 140
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 0, 17))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 4, 0x99))),
    'TPM_ALG_UNSUPPORTED',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 6, 5))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 140, 48))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 136, 9))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 136, 2))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 132, 200))),
    'TPM_PCRS_FILE_INVALID',
  );
  assert.equal(
    parseCode(() => parsePcrsFile(withByte(f, 132, 2))),
    'TRUNCATED',
  );
  // Another selection in the file than in the quote.
  assert.deepEqual(failed({ ...base, pcrs: withByte(f, 7, 3) }), ['TPM_PCRS_FILE_INVALID']);
  assert.deepEqual(failed({ ...base, pcrs: withByte(f, 9, 0x01) }), ['TPM_PCRS_FILE_INVALID']);
});
