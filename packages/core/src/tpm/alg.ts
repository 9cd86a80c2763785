import type { Cursor } from '../bytes/cursor.ts';
import type { HashName } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';

/**
 * The TPM_ALG_ID values this build reads (TPM 2.0 Part 2, 6.3 TPM_ALG_ID). Any other id in
 * a structure is rejected with TPM_ALG_UNSUPPORTED rather than skipped, so a parser never
 * guesses the size of a union arm it does not know.
 */
export const TpmAlg = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  KDF1_SP800_56A: 0x0020,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;
export type TpmAlgId = (typeof TpmAlg)[keyof typeof TpmAlg];

/** TPM_ECC_CURVE values read here (Part 2, 6.4). */
export const TpmCurve = { NIST_P256: 0x0003, NIST_P384: 0x0004 } as const;
export type TpmCurveId = (typeof TpmCurve)[keyof typeof TpmCurve];

/** TPM_GENERATED_VALUE (Part 2, 6.2): the magic that starts every TPMS_ATTEST. */
export const TPM_GENERATED_VALUE = 0xff544347;
/** TPM_ST_ATTEST_CERTIFY (Part 2, 6.9 TPM_ST): a TPM2_Certify's attestation. */
export const TPM_ST_ATTEST_CERTIFY = 0x8017;
/** TPM_ST_ATTEST_QUOTE (Part 2, 6.9 TPM_ST). */
export const TPM_ST_ATTEST_QUOTE = 0x8018;

/** Hash algorithm ids and their names. */
const HASHES: ReadonlyMap<number, HashName> = new Map([
  [TpmAlg.SHA1, 'sha1'],
  [TpmAlg.SHA256, 'sha256'],
  [TpmAlg.SHA384, 'sha384'],
  [TpmAlg.SHA512, 'sha512'],
]);

/** Curve ids, their Node/JWK names and coordinate sizes in bytes. */
export const CURVES: ReadonlyMap<number, { jwk: 'P-256' | 'P-384'; node: string; size: number }> = new Map([
  [TpmCurve.NIST_P256, { jwk: 'P-256', node: 'prime256v1', size: 32 }],
  [TpmCurve.NIST_P384, { jwk: 'P-384', node: 'secp384r1', size: 48 }],
]);

/** The hash name of a TPM_ALG_ID, or undefined when it is not a hash this build knows. */
export function hashName(alg: number): HashName | undefined {
  return HASHES.get(alg);
}

/**
 * Reads a TPMI_ALG_HASH (big-endian u16) and returns its id and name.
 * @throws ParseError TPM_ALG_UNSUPPORTED unless it is SHA-1/256/384/512
 */
export function readHashAlg(c: Cursor, field: string): { alg: number; hash: HashName } {
  const at = c.offset;
  const alg = c.u16be(field);
  const hash = HASHES.get(alg);
  if (hash === undefined) throw unsupported(c, field, at, alg);
  return { alg, hash };
}

/** A ParseError TPM_ALG_UNSUPPORTED for `alg` read at `at`. */
export function unsupported(c: Cursor, field: string, at: number, alg: number): ParseError {
  return new ParseError(
    'TPM_ALG_UNSUPPORTED',
    c.structure,
    field,
    at,
    `algorithm 0x${alg.toString(16).padStart(4, '0')} is unknown or not allowed here`,
  );
}

/** Reads a big-endian u16 size and that many bytes, checking the cap first (a TPM2B_*). */
export function readTpm2b(c: Cursor, cap: number, field: string): Uint8Array {
  const size = c.u16be(`${field}.size`);
  return c.sized(size, cap, field);
}
