import { ed25519 } from '@noble/curves/ed25519.js';
import { CoreError } from '../../errors.ts';

// Ed25519 in a browser, on @noble/curves: the same functions as platform/node/ed25519.ts. A key
// is its 32 raw bytes (as in Node, any 32 bytes import; one that is not a point never verifies).
// Verification is RFC 8032 strict (zip215: false), as OpenSSL's is.

/** An Ed25519 public key as the platform holds it: its raw 32 bytes. */
export interface Ed25519Key {
  readonly raw: Uint8Array;
}

/** Most public keys Node keeps built; a browser keeps none (nothing to build). */
export const ED25519_KEY_CACHE_MAX = 4096;

/** The key of a raw 32-byte Ed25519 public key (copied). @throws CoreError BAD_ENCODING */
export function ed25519PublicKey(raw: Uint8Array): Ed25519Key {
  if (raw.length !== 32)
    throw new CoreError('BAD_ENCODING', `Ed25519 public key must be 32 bytes, found ${raw.length}`);
  return { raw: raw.slice() };
}

/** How many keys are held built: none in a browser. */
export function ed25519KeyCacheSize(): number {
  return 0;
}

/** The raw 32 bytes of an Ed25519 public key. */
export function ed25519Raw(key: Ed25519Key): Uint8Array {
  return key.raw.slice();
}

/** Whether `signature` is a valid Ed25519 signature of `message` by `key`. Never throws for bad input. */
export function ed25519Verify(
  key: Ed25519Key | Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 64) return false;
  try {
    const raw = key instanceof Uint8Array ? ed25519PublicKey(key).raw : key.raw;
    return ed25519.verify(signature, message, raw, { zip215: false });
  } catch {
    return false;
  }
}
