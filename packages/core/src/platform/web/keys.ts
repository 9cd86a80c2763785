import { p256, p384 } from '@noble/curves/nist.js';
import { fromBase64, toBase64Url } from '../../bytes/encoding.ts';
import { CoreError } from '../../errors.ts';
import type { EcCurve, EcdsaEncoding, HashName } from '../types.ts';
import { digest } from './hash.ts';

// Public keys and signature checks in a browser, on @noble/curves: ECDSA on P-256 and P-384
// (TPM quotes by ECC AKs, checkpoint note keys) as platform/node/keys.ts checks them. No RSA:
// an RSA key imports (so parsing paths run), but an RSA signature never verifies here, and
// RSA AKs and EK certificate chains are checked in Node.

/** A public key as the platform holds it: an EC point, or an RSA modulus and exponent. */
export type PublicKey =
  | { readonly kty: 'EC'; readonly crv: EcCurve; readonly x: Uint8Array; readonly y: Uint8Array }
  | { readonly kty: 'RSA'; readonly n: Uint8Array; readonly e: Uint8Array };

/** Signature schemes the TPM uses for quotes. */
export type SignatureKind = 'ecdsa' | 'rsassa' | 'rsapss';

const CURVE = { 'P-256': { impl: p256, size: 32 }, 'P-384': { impl: p384, size: 48 } } as const;

// DER SubjectPublicKeyInfo prefixes of uncompressed EC points (RFC 5480 section 2):
// SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING { 0x00 0x04 ... } }.
const SPKI_PREFIX: Readonly<Record<EcCurve, string>> = {
  'P-256': '3059301306072a8648ce3d020106082a8648ce3d030107034200',
  'P-384': '3076301006072a8648ce3d020106052b81040022036200',
};

/** An integer of at most `size` bytes, left-padded to exactly `size` (null when it is longer). */
function fixed(v: Uint8Array, size: number): Uint8Array | null {
  let i = 0;
  while (v.length - i > size && v[i] === 0) i++;
  if (v.length - i > size) return null;
  const out = new Uint8Array(size);
  out.set(v.subarray(i), size - (v.length - i));
  return out;
}

/** The point x ‖ y uncompressed (0x04 ‖ x ‖ y). */
function sec1(key: { crv: EcCurve; x: Uint8Array; y: Uint8Array }): Uint8Array {
  const size = CURVE[key.crv].size;
  const out = new Uint8Array(1 + 2 * size);
  out[0] = 4;
  out.set(key.x, 1);
  out.set(key.y, 1 + size);
  return out;
}

/** The key of an uncompressed EC point. @throws CoreError TPM_KEY_INVALID when not on the curve */
export function ecPublicKey(crv: EcCurve, x: Uint8Array, y: Uint8Array): PublicKey {
  const size = CURVE[crv].size;
  const [fx, fy] = [fixed(x, size), fixed(y, size)];
  try {
    if (fx === null || fy === null) throw new Error('coordinate longer than the curve');
    CURVE[crv].impl.Point.fromBytes(sec1({ crv, x: fx, y: fy })).assertValidity();
  } catch (cause) {
    throw new CoreError('TPM_KEY_INVALID', `EC point is not on ${crv}`, { cause });
  }
  return { kty: 'EC', crv, x: fx, y: fy };
}

/** The key of an RSA modulus and exponent (imported; never verifies in a browser). */
export function rsaPublicKey(modulus: Uint8Array, exponent: number): PublicKey {
  if (modulus.length === 0 || exponent <= 0) throw new CoreError('TPM_KEY_INVALID', 'invalid RSA public key');
  const e = new Uint8Array(4);
  new DataView(e.buffer).setUint32(0, exponent, false);
  let i = 0;
  while (i < 3 && e[i] === 0) i++;
  return { kty: 'RSA', n: modulus.slice(), e: e.slice(i) };
}

/** A key from DER SubjectPublicKeyInfo: here only uncompressed P-256 and P-384 points. @throws Error */
export function spkiPublicKey(spki: Uint8Array): PublicKey {
  for (const crv of ['P-256', 'P-384'] as const) {
    const prefix = SPKI_PREFIX[crv];
    const size = CURVE[crv].size;
    if (spki.length !== prefix.length / 2 + 1 + 2 * size) continue;
    let same = true;
    for (let i = 0; i < prefix.length / 2; i++)
      if (spki[i] !== Number.parseInt(prefix.slice(2 * i, 2 * i + 2), 16)) same = false;
    if (!same || spki[prefix.length / 2] !== 4) continue;
    const at = prefix.length / 2 + 1;
    return ecPublicKey(crv, spki.slice(at, at + size), spki.slice(at + size));
  }
  throw new Error('not a DER SubjectPublicKeyInfo of an uncompressed P-256 or P-384 point');
}

/** The DER SubjectPublicKeyInfo of an EC key. */
export function spkiBytes(key: PublicKey): Uint8Array {
  if (key.kty !== 'EC') throw new CoreError('TPM_KEY_INVALID', 'RSA keys are encoded in Node only');
  const prefix = SPKI_PREFIX[key.crv];
  const out = new Uint8Array(prefix.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(prefix.slice(2 * i, 2 * i + 2), 16);
  const point = sec1(key);
  const all = new Uint8Array(out.length + point.length);
  all.set(out, 0);
  all.set(point, out.length);
  return all;
}

/** A key from a PEM SubjectPublicKeyInfo (EC only here). @throws CoreError BAD_ENCODING */
export function pemPublicKey(pem: string): PublicKey {
  const m = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
  try {
    if (m === null) throw new Error('no PUBLIC KEY block');
    return spkiPublicKey(fromBase64(m[1]!.replace(/\s+/g, '')));
  } catch (cause) {
    throw new CoreError('BAD_ENCODING', 'not a PEM public key', { cause });
  }
}

/** The JWK members of a public key (for comparing keys). */
export function publicJwk(key: PublicKey): Record<string, unknown> {
  return key.kty === 'EC'
    ? { kty: 'EC', crv: key.crv, x: toBase64Url(key.x), y: toBase64Url(key.y) }
    : { kty: 'RSA', n: toBase64Url(key.n), e: toBase64Url(key.e) };
}

/** The curve of an EC public key, or null for any other key. */
export function ecCurve(key: PublicKey): EcCurve | null {
  return key.kty === 'EC' ? key.crv : null;
}

/** Whether `signature` (in `encoding`) is an ECDSA signature of `message` hashed with `hash`. Never throws. */
export function ecdsaVerify(
  key: PublicKey,
  hash: HashName,
  message: Uint8Array,
  signature: Uint8Array,
  encoding: EcdsaEncoding,
): boolean {
  if (key.kty !== 'EC') return false;
  const { impl, size } = CURVE[key.crv];
  if (encoding === 'ieee-p1363' && signature.length !== 2 * size) return false;
  try {
    return impl.verify(signature, digest(hash, message), sec1(key), {
      prehash: false,
      lowS: false, // OpenSSL accepts either s; so does the Node side
      format: encoding === 'der' ? 'der' : 'compact',
    });
  } catch {
    return false;
  }
}

/**
 * Whether `signature` is valid over `message` (hashed with `hash`) by `key`. ECDSA signatures
 * are IEEE P1363 (r ‖ s). RSA signatures are never valid here: RSA is checked in Node only.
 * Never throws.
 */
export function verifySignature(
  kind: SignatureKind,
  key: PublicKey,
  hash: HashName,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (kind !== 'ecdsa') return false;
  return ecdsaVerify(key, hash, message, signature, 'ieee-p1363');
}
