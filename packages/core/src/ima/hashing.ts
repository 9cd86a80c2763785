import { Buffer } from 'node:buffer';
import { hash } from 'node:crypto';
import type { HashName } from '../crypto/hash.ts';

// Replay hashes twice per entry: 600,000 calls for a 300,000-entry log, so the per-call cost
// is the cost of replay. Measured on the dev box (64-byte inputs, 300,000 calls): createHash()
// .update().digest() 375 ms; crypto.hash() to a Buffer 250 ms; crypto.hash() to a latin1
// string 85 ms, since no Buffer object is made. Replay keeps its running value in one Buffer
// and moves digests through latin1 strings (one char per byte). crypto/hash.ts stays the one
// place for general digests; like it, a browser build swaps this file.

/** Digest of one byte string, one native call. */
export function hashOnce(name: HashName, data: Uint8Array): Uint8Array {
  return hash(name, data, 'buffer');
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
export function putLatin1(target: Buffer, digest: string, at: number): void {
  target.write(digest, at, 'latin1');
}

/** A latin1 string of bytes (to compare with hashLatin1's output). */
export function latin1Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
