import { CoreError } from '../errors.ts';
import { EMPTY_ROOT, nodeHash } from './hash.ts';

/**
 * Hashes of complete subtrees of a log: `node(level, index)` is the root of the perfect subtree
 * of 2^level leaves starting at leaf index * 2^level (level 0: the leaf hashes themselves). An
 * implementation only needs to answer for subtrees that lie wholly inside the tree it serves.
 * The agent's store (packages/agent/src/log) and MemoryTree below implement it.
 */
export interface TreeNodes {
  node(level: number, index: number): Uint8Array;
}

/** The largest power of two strictly less than n (n >= 2): RFC 9162 section 2.1.1's k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Whether n is a power of two (n >= 1). Arithmetic, not bitwise: sizes go up to 2^53 - 1. */
export function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/**
 * MTH(D[start:end]) for a subtree that the RFC 9162 recursion produces: start is a multiple of
 * the smallest power of two >= end - start, so the range splits into complete subtrees read from
 * `nodes` (at most log2(end - start) reads, no leaf scans).
 */
export function subtreeHash(nodes: TreeNodes, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n <= 0) throw new CoreError('PROOF_RANGE_INVALID', `empty subtree [${start}, ${end})`);
  if (isPowerOfTwo(n) && start % n === 0) return nodes.node(Math.log2(n), start / n);
  const k = splitPoint(n);
  return nodeHash(subtreeHash(nodes, start, start + k), subtreeHash(nodes, start + k, end));
}

/**
 * Root hash of the first `size` leaves (EMPTY_ROOT for 0).
 * @throws CoreError PROOF_RANGE_INVALID when size is not a non-negative safe integer.
 */
export function rootAt(nodes: TreeNodes, size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new CoreError('PROOF_RANGE_INVALID', `bad tree size ${size}`);
  return size === 0 ? EMPTY_ROOT : subtreeHash(nodes, 0, size);
}

/** One level of a MemoryTree: hashes packed in one growable buffer, no object per node. */
class Level {
  bytes = new Uint8Array(32 * 16);
  length = 0;

  push(h: Uint8Array): void {
    if ((this.length + 1) * 32 > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(h, this.length * 32);
    this.length++;
  }

  at(i: number): Uint8Array | undefined {
    return i >= 0 && i < this.length ? this.bytes.slice(i * 32, i * 32 + 32) : undefined;
  }
}

/**
 * An in-memory tree over leaf hashes that keeps every complete subtree's hash, level by level,
 * packed (about 64 bytes a leaf: 64 MB for 1,000,000 leaves). For tests, vectors and a verifier
 * that rebuilds an agent's tree from its stored receipts.
 */
export class MemoryTree implements TreeNodes {
  readonly #levels: Level[] = [new Level()];

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const h of leafHashes) this.push(h);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#levels[0]!.length;
  }

  /** Appends one leaf hash (32 bytes) and the complete subtrees it finishes. */
  push(leaf: Uint8Array): void {
    if (leaf.length !== 32) throw new CoreError('PROOF_MALFORMED', `leaf hash of ${leaf.length} bytes`);
    let h = leaf;
    for (let level = 0; ; level++) {
      const row = this.#levels[level] ?? new Level();
      this.#levels[level] = row;
      row.push(h);
      if (row.length % 2 === 1) return;
      h = nodeHash(row.at(row.length - 2)!, h);
    }
  }

  node(level: number, index: number): Uint8Array {
    const h = this.#levels[level]?.at(index);
    if (h === undefined)
      throw new CoreError('PROOF_RANGE_INVALID', `no complete subtree (${level}, ${index})`);
    return h;
  }

  /** Root of the first `size` leaves (default: all of them). */
  root(size: number = this.size): Uint8Array {
    if (size > this.size) throw new CoreError('PROOF_RANGE_INVALID', `size ${size} > tree size ${this.size}`);
    return rootAt(this, size);
  }
}

/** MTH(D[n]) of a list of leaf hashes (RFC 9162 section 2.1.1). */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  return new MemoryTree(leafHashes).root();
}
