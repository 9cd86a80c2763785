import { Buffer } from 'node:buffer';
import { createHash, hash } from 'node:crypto';
import type { Hasher, HashName } from '../types.ts';

// Digests on node:crypto: native, synchronous, ~1 µs per small hash. Merkle proofs and IMA
// replay hash hundreds of thousands of times, so the hot paths avoid objects per call.
// Replay hashes twice per entry: 600,000 calls for a 300,000-entry log, so the per-call cost
// is the cost of replay. Measured on the dev box (64-byte inputs, 300,000 calls): createHash()
// .update().digest() 375 ms; crypto.hash() to a Buffer 250 ms; crypto.hash() to a latin1
// string 85 ms, since no Buffer object is made. Replay keeps its running value in one Buffer
// and moves digests through latin1 strings (one char per byte). platform/web/hash.ts is the
// browser's twin.

/** Digest of the concatenation of `parts`, as a plain Uint8Array. */
export function digest(name: HashName, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(name);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** An incremental digest (a body hashed as its chunks arrive). */
export function hasher(name: HashName): Hasher {
  const h = createHash(name);
  const self: Hasher = {
    update: (data) => {
      h.update(data);
      return self;
    },
    digest: () => new Uint8Array(h.digest()),
  };
  return self;
}

/** Digest of one byte string, one native call (a Buffer: compare with bytesEqual, not deepEqual). */
export function hashOnce(name: HashName, data: Uint8Array): Uint8Array {
  return hash(name, data, 'buffer');
}

/** SHA-256 of one byte string (the log's hot path: a literal name, one native call). */
export function sha256Once(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

/** SHA-256 of one byte string as a latin1 string (the log's hot path). */
export function sha256Latin1(data: Uint8Array): string {
  return hash('sha256', data, 'binary');
}

/** Digest of one byte string as a latin1 string: character i is byte i. */
export function hashLatin1(name: HashName, data: Uint8Array): string {
  return hash(name, data, 'binary'); // 'binary' is Node's name for latin1
}

/** A scratch buffer that latin1 digests can be written into. */
export function scratch(size: number): Buffer {
  return Buffer.alloc(size);
}

/** Writes a latin1 digest into `target` at `at`. */
export function putLatin1(target: Uint8Array, digest: string, at: number): void {
  (target as Buffer).write(digest, at, 'latin1');
}

/** A latin1 string of bytes (to compare with hashLatin1's output). */
export function latin1Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
