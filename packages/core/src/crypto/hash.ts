import { digest } from '#platform/hash.ts';
import type { HashName } from '../platform/types.ts';

// The one place core's formats get general digests. The implementation is the platform's
// (#platform/hash.ts): node:crypto in Node, @noble/hashes in a browser.

export { digest, hasher } from '#platform/hash.ts';
export type { Hasher, HashName } from '../platform/types.ts';

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  return digest('sha256', ...parts);
}

/** Digest size in bytes. */
export const HASH_SIZE: Readonly<Record<HashName, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
