import { latin1Of, putLatin1, scratch as scratchOf, sha256Latin1, sha256Once } from '#platform/hash.ts';

// RFC 6962 section 2.1 / RFC 9162 section 2.1.1 hashing with SHA-256. In Node, #platform/hash.ts
// is node:crypto's one-shot `hash` (a browser gets @noble/hashes), here over a reused buffer: measured 1.1 M node hashes/s against 0.69 M for createHash with
// three updates (Node 24, this repository's dev machine), which is what lets inclusion proofs of
// a 1,000,000-leaf tree verify at >= 50,000/s (bench/log.bench.ts).

/** Size of every log hash in bytes (SHA-256). */
export const LOG_HASH_SIZE = 32;

const node = new Uint8Array(1 + 2 * LOG_HASH_SIZE);
node[0] = 0x01;

/** MTH({}) = SHA-256 of the empty string: the root of the empty tree (RFC 9162 section 2.1.1). */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(sha256Once(new Uint8Array(0)));

// A plain Uint8Array view of a Buffer, so hashes compare equal (deepStrictEqual) to decoded ones.
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Leaf hash: SHA-256(0x00 ‖ data). */
export function leafHash(data: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + data.length);
  buf.set(data, 1);
  return plain(sha256Once(buf));
}

/**
 * Interior node hash: SHA-256(0x01 ‖ left ‖ right). Both inputs must be 32 bytes; callers that
 * hold untrusted hashes check their length first (proof decoding does).
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return plain(nodeHashFast(left, right));
}

/**
 * nodeHash without the plain-Uint8Array view, for proof verification's hot loop (a Buffer is a
 * Uint8Array; it only differs under deepStrictEqual). Internal: not re-exported.
 */
export function nodeHashFast(left: Uint8Array, right: Uint8Array): Uint8Array {
  node.set(left, 1);
  node.set(right, 1 + LOG_HASH_SIZE);
  return sha256Once(node);
}

// Proof verification carries digests as latin1 strings (one character per byte) between hashes:
// crypto.hash to a string makes no Buffer per call. Measured here: 2.6-3.0 M node hashes/s
// against 0.75-0.93 M to a Buffer, which is what inclusion proofs need (20 hashes each at
// 1,000,000 leaves; bench/log.bench.ts).
const scratch = scratchOf(1 + 2 * LOG_HASH_SIZE);
scratch[0] = 0x01;

/** A digest as a latin1 string (character i is byte i). */
export function toLatin1(b: Uint8Array): string {
  return latin1Of(b);
}

/** SHA-256(0x01 ‖ left ‖ right) over latin1 digests; inputs must be 32 bytes (callers check). */
export function nodeHashLatin1(left: string, right: string): string {
  putLatin1(scratch, left, 1);
  putLatin1(scratch, right, 1 + LOG_HASH_SIZE);
  return sha256Latin1(scratch);
}
