import { CoreError } from '../errors.ts';
import { splitPoint, subtreeHash, type TreeNodes } from './tree.ts';

/** An inclusion proof (RFC 9162 section 2.1.3): leaf `index` is in the tree of `size` leaves. */
export interface InclusionProof {
  index: number;
  size: number;
  /** The audit path, from the leaf's sibling up to the root's child. */
  hashes: Uint8Array[];
}

/** A consistency proof (RFC 9162 section 2.1.4): the tree of `from` leaves is a prefix of `to`. */
export interface ConsistencyProof {
  from: number;
  to: number;
  hashes: Uint8Array[];
}

function checkSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CoreError('PROOF_RANGE_INVALID', `${what} must be a non-negative safe integer, found ${value}`);
}

/**
 * PATH(index, D[size]) of RFC 9162 section 2.1.3.1, read from complete-subtree hashes: at most
 * 2 log2(size) node reads (one sibling per level; only one sibling can be an incomplete right
 * edge, which splits into at most log2(size) complete subtrees).
 * @throws CoreError PROOF_RANGE_INVALID unless 0 <= index < size.
 */
export function inclusionProof(nodes: TreeNodes, index: number, size: number): InclusionProof {
  checkSize(index, 'index');
  checkSize(size, 'size');
  if (index >= size) throw new CoreError('PROOF_RANGE_INVALID', `index ${index} is not below size ${size}`);
  const topDown: Uint8Array[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) {
      topDown.push(subtreeHash(nodes, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeHash(nodes, start, start + k));
      start += k;
    }
  }
  return { index, size, hashes: topDown.reverse() };
}

/**
 * PROOF(from, D[to]) of RFC 9162 section 2.1.4.1 (SUBPROOF with b = true at the top). The proof
 * between equal sizes, and from the empty tree, is empty.
 * @throws CoreError PROOF_RANGE_INVALID unless 0 <= from <= to.
 */
export function consistencyProof(nodes: TreeNodes, from: number, to: number): ConsistencyProof {
  checkSize(from, 'from');
  checkSize(to, 'to');
  if (from > to) throw new CoreError('PROOF_RANGE_INVALID', `from ${from} is above to ${to}`);
  if (from === 0 || from === to) return { from, to, hashes: [] };
  const topDown: Uint8Array[] = [];
  let start = 0;
  let end = to;
  let whole = true; // SUBPROOF's b: the subtree [start, from) is the old root itself
  while (from < end) {
    const k = splitPoint(end - start);
    if (from - start <= k) {
      topDown.push(subtreeHash(nodes, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeHash(nodes, start, start + k));
      start += k;
      whole = false;
    }
  }
  const head = whole ? [] : [subtreeHash(nodes, start, end)];
  return { from, to, hashes: [...head, ...topDown.reverse()] };
}

/** Number of hashes in PATH(index, D[size]), 0 <= index < size. */
export function inclusionProofLength(index: number, size: number): number {
  let n = 0;
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) end = start + k;
    else start += k;
    n++;
  }
  return n;
}

/** Number of hashes in PROOF(from, D[to]), 0 <= from <= to. */
export function consistencyProofLength(from: number, to: number): number {
  if (from === 0 || from === to) return 0;
  let n = 0;
  let start = 0;
  let end = to;
  let whole = true;
  while (from < end) {
    const k = splitPoint(end - start);
    if (from - start <= k) end = start + k;
    else {
      start += k;
      whole = false;
    }
    n++;
  }
  return whole ? n : n + 1;
}
