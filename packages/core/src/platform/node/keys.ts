import { Buffer } from 'node:buffer';
import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { toBase64Url, toHex } from '../../bytes/encoding.ts';
import { CoreError } from '../../errors.ts';
import { Lru } from '../../lru.ts';
import type { EcCurve, EcdsaEncoding, HashName } from '../types.ts';

// Public keys and RSA and ECDSA signature checks (TPM quotes, EK certificates, checkpoint
// note keys) on node:crypto. platform/web/keys.ts is the browser's twin.

/** A public key as the platform holds it: a KeyObject in Node. */
export type PublicKey = KeyObject;

/** Most public keys ecPublicKey and spkiPublicKey keep built (each); past it the
 * least recently used is dropped. A fleet's AKs and certified keys: 10,000 hosts fit. */
const PUBLIC_KEY_CACHE_MAX = 16_384;

/**
 * Built KeyObjects by the full key bytes (hex; never a prefix or a hash), least recently used
 * first. The verifier checks a quote and a certification under the same AK once a second per
 * agent: building the KeyObject from JWK or DER was 2-5 % of its CPU at 2,000 agents (issue 12's
 * scale profile). Only public keys, bounded, and a key that failed to import is never cached,
 * so it changes no answer, only how fast one comes.
 */
const ecKeys = new Lru<string, KeyObject>(PUBLIC_KEY_CACHE_MAX);
const spkiKeys = new Lru<string, KeyObject>(PUBLIC_KEY_CACHE_MAX);

/** A KeyObject for an uncompressed EC point (built once per point: ecKeys). @throws CoreError TPM_KEY_INVALID when not on the curve */
export function ecPublicKey(crv: 'P-256' | 'P-384', x: Uint8Array, y: Uint8Array): KeyObject {
  // x and y have the curve's fixed size in a TPM public area, but nothing here relies on it:
  // the lengths are part of the id, so no two (x, y) splits share one.
  return ecKeys.getOrBuild(`${crv}:${x.length}:${toHex(x)}${toHex(y)}`, () => {
    try {
      return createPublicKey({
        key: { kty: 'EC', crv, x: toBase64Url(x), y: toBase64Url(y) },
        format: 'jwk',
      });
    } catch (cause) {
      throw new CoreError('TPM_KEY_INVALID', `EC point is not on ${crv}`, { cause });
    }
  });
}

/** A KeyObject for an RSA modulus and exponent. @throws CoreError TPM_KEY_INVALID */
export function rsaPublicKey(modulus: Uint8Array, exponent: number): KeyObject {
  const e = new Uint8Array(4);
  new DataView(e.buffer).setUint32(0, exponent, false);
  let i = 0;
  while (i < 3 && e[i] === 0) i++;
  try {
    return createPublicKey({
      key: { kty: 'RSA', n: toBase64Url(modulus), e: toBase64Url(e.subarray(i)) },
      format: 'jwk',
    });
  } catch (cause) {
    throw new CoreError('TPM_KEY_INVALID', 'invalid RSA public key', { cause });
  }
}

/** A KeyObject from a PEM SubjectPublicKeyInfo. @throws CoreError BAD_ENCODING */
export function pemPublicKey(pem: string): KeyObject {
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new CoreError('BAD_ENCODING', 'not a PEM public key', { cause });
  }
}

/** The JWK members of a public key (for comparing keys). */
export function publicJwk(key: KeyObject): Record<string, unknown> {
  return key.export({ format: 'jwk' }) as Record<string, unknown>;
}

/** Signature schemes the TPM uses for quotes. */
export type SignatureKind = 'ecdsa' | 'rsassa' | 'rsapss';

/**
 * Whether `signature` is valid over `message` (hashed with `hash`) by `key`. ECDSA signatures
 * are IEEE P1363 (r || s, each the curve's size). RSA-PSS accepts any salt length, since TPMs
 * differ (the TPM 2.0 spec changed from hash-sized to maximum salt). Never throws.
 */
export function verifySignature(
  kind: SignatureKind,
  key: KeyObject,
  hash: HashName,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (kind === 'ecdsa') {
      if (key.asymmetricKeyType !== 'ec') return false;
      return verify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (key.asymmetricKeyType !== 'rsa') return false;
    if (kind === 'rsassa')
      return verify(hash, message, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    return verify(
      hash,
      message,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      signature,
    );
  } catch {
    return false;
  }
}

/** A public key from DER SubjectPublicKeyInfo bytes (built once per key: spkiKeys). @throws Error when it is not one */
export function spkiPublicKey(spki: Uint8Array): PublicKey {
  return spkiKeys.getOrBuild(toHex(spki), () =>
    createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
  );
}

/** The curve of an EC public key, or null for any other key (RSA, Ed25519, another curve). */
export function ecCurve(key: PublicKey): EcCurve | null {
  if (key.asymmetricKeyType !== 'ec') return null;
  const c = key.asymmetricKeyDetails?.namedCurve;
  return c === 'prime256v1' ? 'P-256' : c === 'secp384r1' ? 'P-384' : null;
}

/** Whether `signature` (in `encoding`) is an ECDSA signature of `message` hashed with `hash`. Never throws. */
export function ecdsaVerify(
  key: PublicKey,
  hash: HashName,
  message: Uint8Array,
  signature: Uint8Array,
  encoding: EcdsaEncoding,
): boolean {
  try {
    return verify(hash, message, { key, dsaEncoding: encoding }, signature);
  } catch {
    return false;
  }
}

/** The DER SubjectPublicKeyInfo of a public key. */
export function spkiBytes(key: PublicKey): Uint8Array {
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}
