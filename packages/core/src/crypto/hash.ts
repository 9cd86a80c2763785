import { createHash } from 'node:crypto';

// The one place core touches a crypto implementation for digests. It uses node:crypto
// (synchronous, ~1 µs per small hash) because Merkle proofs and log replay hash hundreds of
// thousands of times; a browser build swaps this file for a pure-JS or WebCrypto one.

/** Digest algorithms core computes. */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** Digest of the concatenation of `parts`. */
export function digest(name: HashName, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(name);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  return digest('sha256', ...parts);
}

/** Digest size in bytes. */
export const HASH_SIZE: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
