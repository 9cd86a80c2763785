import { Cursor } from '../bytes/cursor.ts';
import { digest, type HashName } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { CURVES, hashName, readHashAlg, readTpm2b, TpmAlg, unsupported } from './alg.ts';

/** TPMA_OBJECT bits (TPM 2.0 Part 2, 8.3.2) that an attestation key's checks use. */
export const ObjectAttr = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** A signing or key-exchange scheme with its hash; `scheme` is TPM_ALG_NULL when none is fixed. */
export interface TpmScheme {
  scheme: number;
  hashAlg: number | null;
}

/** The symmetric algorithm of a storage key (EK): AES-CFB with its key size, or null (TPM_ALG_NULL). */
export interface TpmSymmetric {
  keyBits: 128 | 256;
}

/** A parsed TPMT_PUBLIC (Part 2, 12.2.4), RSA or ECC. `bytes` are the exact TPMT_PUBLIC bytes. */
export type TpmPublic = {
  bytes: Uint8Array;
  nameAlg: number;
  nameHash: HashName;
  attributes: number;
  authPolicy: Uint8Array;
  symmetric: TpmSymmetric | null;
  scheme: TpmScheme;
} & (
  | { type: 'rsa'; keyBits: number; exponent: number; modulus: Uint8Array }
  | { type: 'ecc'; curve: number; kdf: TpmScheme; x: Uint8Array; y: Uint8Array }
);

// Caps (Part 2 tables for TPM2B_DIGEST, TPM2B_PUBLIC_KEY_RSA, TPM2B_ECC_PARAMETER): the largest
// sizes any algorithm this build reads can produce. A length over its cap is refused before use.
const MAX_DIGEST = 64;
const MAX_RSA_BYTES = 512;
const MAX_ECC_BYTES = 66;
/** Largest TPM2B_PUBLIC accepted: a 4096-bit RSA key's public area is under 600 bytes. */
export const MAX_PUBLIC_BYTES = 1024;

function symmetric(c: Cursor): TpmSymmetric | null {
  // TPMT_SYM_DEF_OBJECT (Part 2, 11.1.7): algorithm, then keyBits and mode unless NULL.
  const at = c.offset;
  const alg = c.u16be('symmetric.algorithm');
  if (alg === TpmAlg.NULL) return null;
  if (alg !== TpmAlg.AES) throw unsupported(c, 'symmetric.algorithm', at, alg);
  const bitsAt = c.offset;
  const keyBits = c.u16be('symmetric.keyBits');
  if (keyBits !== 128 && keyBits !== 256)
    throw new ParseError('TPM_VALUE_INVALID', c.structure, 'symmetric.keyBits', bitsAt, `AES-${keyBits}`);
  const modeAt = c.offset;
  const mode = c.u16be('symmetric.mode');
  if (mode !== TpmAlg.CFB) throw unsupported(c, 'symmetric.mode', modeAt, mode);
  return { keyBits };
}

/** A scheme (TPMT_RSA_SCHEME, TPMT_ECC_SCHEME, TPMT_KDF_SCHEME): id, then a hash unless NULL or RSAES. */
function scheme(c: Cursor, field: string, allowed: readonly number[]): TpmScheme {
  const at = c.offset;
  const id = c.u16be(`${field}.scheme`);
  if (id === TpmAlg.NULL) return { scheme: id, hashAlg: null };
  if (!allowed.includes(id)) throw unsupported(c, `${field}.scheme`, at, id);
  if (id === TpmAlg.RSAES) return { scheme: id, hashAlg: null };
  return { scheme: id, hashAlg: readHashAlg(c, `${field}.hashAlg`).alg };
}

function body(c: Cursor): TpmPublic {
  const start = c.offset;
  const typeAt = c.offset;
  const type = c.u16be('type');
  if (type !== TpmAlg.RSA && type !== TpmAlg.ECC) throw unsupported(c, 'type', typeAt, type);
  const name = readHashAlg(c, 'nameAlg');
  const attributes = c.u32be('objectAttributes');
  const authPolicy = readTpm2b(c, MAX_DIGEST, 'authPolicy');
  const sym = symmetric(c);
  const common = { nameAlg: name.alg, nameHash: name.hash, attributes, authPolicy, symmetric: sym };
  if (type === TpmAlg.RSA) {
    // TPMS_RSA_PARMS (Part 2, 12.2.3.5), then TPM2B_PUBLIC_KEY_RSA.
    const sch = scheme(c, 'scheme', [TpmAlg.RSASSA, TpmAlg.RSAPSS, TpmAlg.RSAES, TpmAlg.OAEP]);
    const bitsAt = c.offset;
    const keyBits = c.u16be('keyBits');
    if (keyBits !== 2048 && keyBits !== 3072 && keyBits !== 4096)
      throw new ParseError('TPM_VALUE_INVALID', c.structure, 'keyBits', bitsAt, `RSA-${keyBits}`);
    const exponent = c.u32be('exponent');
    const modAt = c.offset;
    const modulus = readTpm2b(c, MAX_RSA_BYTES, 'unique.rsa');
    if (modulus.length !== keyBits / 8)
      throw new ParseError(
        'TPM_VALUE_INVALID',
        c.structure,
        'unique.rsa',
        modAt,
        `modulus of ${modulus.length} bytes for RSA-${keyBits}`,
      );
    return {
      ...common,
      bytes: c.bytes.subarray(start, c.offset),
      type: 'rsa',
      scheme: sch,
      keyBits,
      exponent,
      modulus,
    };
  }
  // TPMS_ECC_PARMS (Part 2, 12.2.3.6), then TPMS_ECC_POINT.
  const sch = scheme(c, 'scheme', [TpmAlg.ECDSA, TpmAlg.ECDH]);
  const curveAt = c.offset;
  const curve = c.u16be('curveID');
  const info = CURVES.get(curve);
  if (info === undefined) throw unsupported(c, 'curveID', curveAt, curve);
  const kdf = scheme(c, 'kdf', [TpmAlg.KDF1_SP800_56A, TpmAlg.KDF1_SP800_108]);
  const pointAt = c.offset;
  const x = readTpm2b(c, MAX_ECC_BYTES, 'unique.ecc.x');
  const y = readTpm2b(c, MAX_ECC_BYTES, 'unique.ecc.y');
  if (x.length !== info.size || y.length !== info.size)
    throw new ParseError(
      'TPM_VALUE_INVALID',
      c.structure,
      'unique.ecc',
      pointAt,
      `point coordinates of ${x.length} and ${y.length} bytes for a ${info.size}-byte curve`,
    );
  return { ...common, bytes: c.bytes.subarray(start, c.offset), type: 'ecc', scheme: sch, curve, kdf, x, y };
}

/**
 * Parses a TPMT_PUBLIC (no size prefix), RSA or ECC, rejecting trailing bytes.
 * @throws ParseError TRUNCATED, TRAILING_BYTES, LENGTH_TOO_LARGE, TPM_ALG_UNSUPPORTED, TPM_VALUE_INVALID
 */
export function parseTpmtPublic(bytes: Uint8Array): TpmPublic {
  const c = new Cursor(bytes, 'TPMT_PUBLIC');
  const pub = body(c);
  c.end();
  return pub;
}

/**
 * Parses a TPM2B_PUBLIC (Part 2, 12.2.5) as `tpm2_createak -u` and `tpm2_readpublic -o` write
 * it: a big-endian u16 size, then exactly that many bytes of TPMT_PUBLIC.
 * @throws ParseError as parseTpmtPublic; TRUNCATED or TRAILING_BYTES when the size disagrees
 */
export function parseTpm2bPublic(bytes: Uint8Array): TpmPublic {
  const outer = new Cursor(bytes, 'TPM2B_PUBLIC');
  const inner = readTpm2b(outer, MAX_PUBLIC_BYTES, 'publicArea');
  outer.end();
  const c = new Cursor(inner, 'TPMT_PUBLIC');
  const pub = body(c);
  c.end();
  return pub;
}

/**
 * The TPM name of an object (Part 1, 16 Names): nameAlg (big-endian u16) || H_nameAlg(TPMT_PUBLIC).
 * Computed from the public area, never taken from the agent.
 */
export function tpmName(pub: TpmPublic): Uint8Array {
  const h = digest(pub.nameHash, pub.bytes);
  const out = new Uint8Array(2 + h.length);
  out[0] = pub.nameAlg >> 8;
  out[1] = pub.nameAlg & 0xff;
  out.set(h, 2);
  return out;
}

/** Whether a scheme's hash, if any, is one this build knows (a guard for callers). */
export function schemeHash(s: TpmScheme) {
  return s.hashAlg === null ? undefined : hashName(s.hashAlg);
}
