import { Buffer } from 'node:buffer';
import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { CoreError } from '../../errors.ts';

// The crypto of signed runtime policies (ima/dsse.ts): Keylime's key ids, ECDSA P-256 DER
// signatures over DSSE's PAE, and the lenient base64 Keylime's Python accepts. node:crypto.

/** A policy-signing public key (a KeyObject in Node). */
export type PolicyKey = KeyObject;
/** A policy-signing private key (a KeyObject in Node). */
export type PolicySigningKey = KeyObject;

/** Keylime's keyid of an EC public key: SHA-256 (hex) of its SubjectPublicKeyInfo PEM. */
export function keylimeKeyId(key: PolicyKey): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'pem' }) as string)
    .digest('hex');
}

/** The DER ECDSA SHA-256 signature of `message` and the keyid of the signer's public key. */
export function policySign(
  message: Uint8Array,
  privateKey: PolicySigningKey,
): { sig: Uint8Array; keyid: string } {
  const sig = sign('sha256', message, { key: privateKey, dsaEncoding: 'der' });
  return { sig, keyid: keylimeKeyId(createPublicKey(privateKey)) };
}

/** Whether `sig` (DER ECDSA, SHA-256) verifies `message` under `key`. Never throws. */
export function policyVerify(key: PolicyKey, message: Uint8Array, sig: Uint8Array): boolean {
  try {
    return verify('sha256', message, { key, dsaEncoding: 'der' }, sig);
  } catch {
    return false; // a signature that is not DER: it does not verify
  }
}

/**
 * The EC public key of a PEM public key or certificate (or a KeyObject, as given).
 * @throws CoreError IMA_POLICY_KEY_INVALID
 */
export function policyKey(k: string | PolicyKey): PolicyKey {
  const bad = (why: string, cause?: unknown): never => {
    throw new CoreError('IMA_POLICY_KEY_INVALID', `runtime policy key: ${why}`, { cause });
  };
  if (typeof k === 'string' && k.includes('PRIVATE KEY'))
    bad('this is a private key: give the public key (or the certificate) that verifies the policy');
  let key: KeyObject;
  try {
    key = typeof k === 'string' ? createPublicKey(k) : k;
  } catch (cause) {
    return bad('not a PEM public key or X.509 certificate', cause);
  }
  if (key.type !== 'public') bad('not a public key');
  if (key.asymmetricKeyType !== 'ec')
    bad(`a ${key.asymmetricKeyType} key; Keylime signs runtime policies with ECDSA (EC keys)`);
  return key;
}

/** Bytes of base64, base64url or hex text already matched by the caller's pattern (Buffer's decoder). */
export function decodeText(s: string, encoding: 'hex' | 'base64' | 'base64url'): Uint8Array {
  return new Uint8Array(Buffer.from(s, encoding));
}

/** Standard base64 of bytes. */
export function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
