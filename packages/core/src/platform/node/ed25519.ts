import { Buffer } from 'node:buffer';
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { toHex } from '../../bytes/encoding.ts';
import { CoreError } from '../../errors.ts';

// SPKI DER prefix of an Ed25519 public key (RFC 8410 section 4): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
const SPKI_PREFIX = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** An Ed25519 public key as the platform holds it: a KeyObject in Node. */
export type Ed25519Key = KeyObject;

/** Most public keys {@link ed25519PublicKey} keeps built; past it the oldest is dropped. */
export const ED25519_KEY_CACHE_MAX = 4096;

// Built KeyObjects by the lower-case hex of their raw 32 bytes, oldest first (Map keeps insertion
// order). A module-level cache in a pure package, on purpose: a verifier checks thousands of
// receipts under a handful of agent keys, and rebuilding the KeyObject from DER cost ~35 µs of
// every check (measured: ed25519Verify on raw bytes 135 -> 104 µs, checkSignedReceipt ~200 ->
// ~150 µs, one shared 2-core machine). It holds only public keys, is keyed by
// the full key (never a prefix or a hash of it), is bounded, and never caches a key that failed
// to import, so it changes no answer, only how fast one comes.
const cache = new Map<string, KeyObject>();

/**
 * A KeyObject for a raw 32-byte Ed25519 public key. Keys are built once and kept (at most
 * {@link ED25519_KEY_CACHE_MAX}, oldest dropped first), so repeated calls with one key are cheap;
 * the caller may change `raw` afterwards without affecting the cached key.
 * @throws CoreError BAD_ENCODING when the key is not 32 bytes or not a valid point.
 */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw new CoreError('BAD_ENCODING', `Ed25519 public key must be 32 bytes, found ${raw.length}`);
  const hex = toHex(raw);
  const hit = cache.get(hex);
  if (hit !== undefined) return hit;
  const der = new Uint8Array(SPKI_PREFIX.length + 32);
  der.set(SPKI_PREFIX, 0);
  der.set(raw, SPKI_PREFIX.length);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new CoreError('BAD_ENCODING', 'invalid Ed25519 public key', { cause });
  }
  if (cache.size >= ED25519_KEY_CACHE_MAX) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(hex, key);
  return key;
}

/**
 * How many public keys {@link ed25519PublicKey} holds built now (never more than
 * {@link ED25519_KEY_CACHE_MAX}); for tests and diagnostics.
 */
export function ed25519KeyCacheSize(): number {
  return cache.size;
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
