import { fromHex, toBase64 } from '../../bytes/encoding.ts';
import { CoreError } from '../../errors.ts';
import { digest } from './hash.ts';
import { ecCurve, ecdsaVerify, type PublicKey, pemPublicKey, spkiBytes } from './keys.ts';

// The crypto of signed runtime policies (ima/dsse.ts) in a browser: verification with a PEM EC
// public key, as platform/node/dsse.ts does it; signing and certificates are Node's.

/** A policy-signing public key (an EC key). */
export type PolicyKey = PublicKey;
/** A policy-signing private key: none in a browser. */
export type PolicySigningKey = never;

/** Keylime's keyid of an EC public key: SHA-256 (hex) of its SubjectPublicKeyInfo PEM. */
export function keylimeKeyId(key: PolicyKey): string {
  const b64 = toBase64(spkiBytes(key));
  const lines = b64.match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
  const h = digest('sha256', new TextEncoder().encode(pem));
  return Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @throws Error always: policies are signed in Node */
export function policySign(
  _message: Uint8Array,
  _privateKey: PolicySigningKey,
): { sig: Uint8Array; keyid: string } {
  throw new Error('runtime policies are signed in Node only');
}

/** Whether `sig` (DER ECDSA, SHA-256) verifies `message` under `key`. Never throws. */
export function policyVerify(key: PolicyKey, message: Uint8Array, sig: Uint8Array): boolean {
  return ecdsaVerify(key, 'sha256', message, sig, 'der');
}

/**
 * The EC public key of a PEM public key (or a key, as given). Certificates are read in Node.
 * @throws CoreError IMA_POLICY_KEY_INVALID
 */
export function policyKey(k: string | PolicyKey): PolicyKey {
  const bad = (why: string, cause?: unknown): never => {
    throw new CoreError('IMA_POLICY_KEY_INVALID', `runtime policy key: ${why}`, { cause });
  };
  if (typeof k === 'string' && k.includes('PRIVATE KEY'))
    bad('this is a private key: give the public key (or the certificate) that verifies the policy');
  let key: PolicyKey;
  try {
    key = typeof k === 'string' ? pemPublicKey(k) : k;
  } catch (cause) {
    return bad('not a PEM EC public key (certificates are read in Node only)', cause);
  }
  if (ecCurve(key) === null) bad(`a ${key.kty} key; Keylime signs runtime policies with ECDSA (EC keys)`);
  return key;
}

/** Bytes of base64, base64url or hex text already matched by the caller's pattern. */
export function decodeText(s: string, encoding: 'hex' | 'base64' | 'base64url'): Uint8Array {
  if (encoding === 'hex') return fromHex(s);
  const bin = atob(encoding === 'base64' ? s : s.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Standard base64 of bytes. */
export function base64Of(bytes: Uint8Array): string {
  return toBase64(bytes);
}
