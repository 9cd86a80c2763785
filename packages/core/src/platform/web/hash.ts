import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type { Hasher, HashName } from '../types.ts';

// Digests in a browser, on @noble/hashes (synchronous, audited, no dependencies): the same
// functions as platform/node/hash.ts, with latin1 strings built by hand where Node has Buffer.

const IMPL = { sha1, sha256, sha384, sha512 } as const;

/** Digest of the concatenation of `parts`, as a plain Uint8Array. */
export function digest(name: HashName, ...parts: Uint8Array[]): Uint8Array {
  const h = IMPL[name].create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** An incremental digest (a body hashed as its chunks arrive). */
export function hasher(name: HashName): Hasher {
  const h = IMPL[name].create();
  const self: Hasher = {
    update: (data) => {
      h.update(data);
      return self;
    },
    digest: () => h.digest(),
  };
  return self;
}

/** Digest of one byte string. */
export function hashOnce(name: HashName, data: Uint8Array): Uint8Array {
  return IMPL[name](data);
}

/** SHA-256 of one byte string. */
export function sha256Once(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** SHA-256 of one byte string as a latin1 string. */
export function sha256Latin1(data: Uint8Array): string {
  return latin1Of(sha256(data));
}

/** Digest of one byte string as a latin1 string: character i is byte i. */
export function hashLatin1(name: HashName, data: Uint8Array): string {
  return latin1Of(IMPL[name](data));
}

/** A scratch buffer that latin1 digests can be written into. */
export function scratch(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** Writes a latin1 digest into `target` at `at`. */
export function putLatin1(target: Uint8Array, digest: string, at: number): void {
  for (let i = 0; i < digest.length; i++) target[at + i] = digest.charCodeAt(i);
}

/** A latin1 string of bytes (to compare with hashLatin1's output). */
export function latin1Of(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096)
    out += String.fromCharCode(...bytes.subarray(i, Math.min(i + 4096, bytes.length)));
  return out;
}
