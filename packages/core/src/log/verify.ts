import { bytesEqual } from '../bytes/encoding.ts';
import type { CoreErrorCode } from '../errors.ts';
import { EMPTY_ROOT, LOG_HASH_SIZE, nodeHashFast as nodeHash, nodeHashLatin1, toLatin1 } from './hash.ts';
import type { ConsistencyProof, InclusionProof } from './prove.ts';
import { isPowerOfTwo } from './tree.ts';

/**
 * The outcome of checking a proof or a checkpoint: never thrown, always returned. `code` and
 * `detail` map one to one onto a verdict Check (`{ name, status: ok ? 'pass' : 'fail', code, detail }`).
 */
export type LogVerification =
  | { ok: true; detail: string }
  | { ok: false; code: CoreErrorCode; detail: string };

function fail(code: CoreErrorCode, detail: string): LogVerification {
  return { ok: false, code, detail };
}

function badHash(hashes: readonly Uint8Array[], a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== LOG_HASH_SIZE || b.length !== LOG_HASH_SIZE) return true;
  for (const h of hashes) if (h.length !== LOG_HASH_SIZE) return true;
  return false;
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
// Arithmetic halving and parity: indices go up to 2^53 - 1, past what bitwise operators hold.
const half = (n: number): number => Math.floor(n / 2);
const odd = (n: number): boolean => n % 2 === 1;

/**
 * Verifies that `leaf` (a leaf hash, SHA-256(0x00 ‖ data)) sits at `proof.index` of the tree of
 * `proof.size` leaves whose root is `root`: RFC 9162 section 2.1.3.2, step for step.
 * Never throws for bad evidence: PROOF_RANGE_INVALID (index >= size), PROOF_MALFORMED (a hash
 * not 32 bytes), PROOF_LENGTH_INVALID (path too short or too long), INCLUSION_PROOF_INVALID.
 */
export function verifyInclusion(leaf: Uint8Array, proof: InclusionProof, root: Uint8Array): LogVerification {
  const { index, size, hashes } = proof;
  if (!isSize(index) || !isSize(size) || index >= size)
    return fail('PROOF_RANGE_INVALID', `leaf index ${index} is not below tree size ${size}`);
  if (badHash(hashes, leaf, root)) return fail('PROOF_MALFORMED', 'a hash is not 32 bytes');
  let fn = index;
  let sn = size - 1;
  let r = toLatin1(leaf);
  for (const h of hashes) {
    if (sn === 0) return fail('PROOF_LENGTH_INVALID', `path of ${hashes.length} hashes is too long`);
    const p = toLatin1(h);
    if (odd(fn) || fn === sn) {
      r = nodeHashLatin1(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHashLatin1(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return fail('PROOF_LENGTH_INVALID', `path of ${hashes.length} hashes is too short`);
  // Roots are public (they are in signed checkpoints): a plain comparison is fine.
  if (r !== toLatin1(root))
    return fail('INCLUSION_PROOF_INVALID', `leaf ${index} does not lead to the root of tree size ${size}`);
  return { ok: true, detail: `leaf ${index} is included in the tree of size ${size}` };
}

/**
 * Verifies that the tree of `proof.from` leaves with root `fromRoot` is a prefix of the tree of
 * `proof.to` leaves with root `toRoot`: RFC 9162 section 2.1.4.2. Equal sizes need an empty proof
 * and equal roots; from 0 needs an empty proof and fromRoot = SHA-256("").
 * Never throws for bad evidence: PROOF_RANGE_INVALID, PROOF_MALFORMED, PROOF_LENGTH_INVALID,
 * CONSISTENCY_PROOF_INVALID.
 */
export function verifyConsistency(
  proof: ConsistencyProof,
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
): LogVerification {
  const { from, to, hashes } = proof;
  if (!isSize(from) || !isSize(to) || from > to)
    return fail('PROOF_RANGE_INVALID', `tree size ${from} is above tree size ${to}`);
  if (badHash(hashes, fromRoot, toRoot)) return fail('PROOF_MALFORMED', 'a hash is not 32 bytes');
  const ok: LogVerification = { ok: true, detail: `tree size ${from} is a prefix of tree size ${to}` };
  if (from === 0 || from === to) {
    if (hashes.length !== 0)
      return fail('PROOF_LENGTH_INVALID', `expected no hashes, found ${hashes.length}`);
    const same = from === 0 ? bytesEqual(fromRoot, EMPTY_ROOT) : bytesEqual(fromRoot, toRoot);
    return same ? ok : fail('CONSISTENCY_PROOF_INVALID', `roots differ at size ${from}`);
  }
  // Step 1: the path of a proof between 0 < from < to is never empty.
  if (hashes.length === 0) return fail('PROOF_LENGTH_INVALID', 'empty consistency path');
  // Step 2: when from is a power of two, the old root is the path's implicit first element.
  let fn = from - 1;
  let sn = to - 1;
  const path = isPowerOfTwo(from) ? [fromRoot, ...hashes] : hashes;
  // Step 4.
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return fail('PROOF_LENGTH_INVALID', `path of ${hashes.length} hashes is too long`);
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return fail('PROOF_LENGTH_INVALID', `path of ${hashes.length} hashes is too short`);
  if (!bytesEqual(fr, fromRoot) || !bytesEqual(sr, toRoot))
    return fail(
      'CONSISTENCY_PROOF_INVALID',
      `tree size ${from} is not shown to be a prefix of tree size ${to}`,
    );
  return ok;
}
