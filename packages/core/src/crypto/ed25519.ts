import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { CoreError } from '../errors.ts';

// SPKI DER prefix of an Ed25519 public key (RFC 8410 section 4): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
const SPKI_PREFIX = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/**
 * A KeyObject for a raw 32-byte Ed25519 public key.
 * @throws CoreError BAD_ENCODING when the key is not 32 bytes or not a valid point.
 */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw new CoreError('BAD_ENCODING', `Ed25519 public key must be 32 bytes, found ${raw.length}`);
  const der = new Uint8Array(SPKI_PREFIX.length + 32);
  der.set(SPKI_PREFIX, 0);
  der.set(raw, SPKI_PREFIX.length);
  try {
    return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CoreError('BAD_ENCODING', 'invalid Ed25519 public key', { cause });
  }
}

/** The raw 32 bytes of an Ed25519 public KeyObject. */
export function ed25519Raw(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** Whether `signature` is a valid Ed25519 signature of `message` by `key`. Never throws for bad input. */
export function ed25519Verify(
  key: KeyObject | Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 64) return false;
  try {
    const k = key instanceof Uint8Array ? ed25519PublicKey(key) : key;
    return verify(null, message, k, signature);
  } catch {
    return false;
  }
}
