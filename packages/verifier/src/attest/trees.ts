import { CoreError } from '@tmb/core';
import {
  type ConsistencyProof,
  consistencyProof,
  EMPTY_ROOT,
  type InclusionProof,
  inclusionProof,
  type LogRun,
  nodeHash,
  rootAt,
  type TreeNodes,
} from '@tmb/core/log';
import { VerifierError } from '../errors.ts';
import type { NodeRecord, Store } from '../store/types.ts';

// Leaves read from the store, and nodes written to it, per transaction while growing.
const PAGE = 10_000;
const ZERO = new Uint8Array(32);
// Nodes of level >= CACHE_LEVEL read for proofs stay in a cache shared by all agents, bounded
// (about 2 MiB): a proof's upper siblings are mostly there, so it reads ~6 nodes, not ~20.
// Nodes never change once written. 16,384 entries hold every such node of a 1,000,000-leaf tree.
const CACHE_LEVEL = 6;
const CACHE_ENTRIES = 16_384;

/** One run's tree as held in memory: its size and right edge, O(log size) hashes. */
interface RunTree {
  run: number;
  base: number;
  size: number;
  /** frontier[l]: the complete subtree of 2^l leaves on the right edge, defined iff bit l of size is set. */
  frontier: (Uint8Array | undefined)[];
}

/**
 * Each agent's receipt log as the verifier rebuilds it from the receipts it holds, per log run
 * (docs/proofs.md, "Log runs"): leaf i of run r is the receipt with seq base_r + i. The tree
 * lives in the store (verifier_log_nodes; level 0 is log_leaves); memory holds, per agent, one
 * run's size and right edge (at most 53 hashes), so it is bounded by the number of agents, not of
 * receipts. A proof reads its O(log n) nodes from the store. A missing seq stops the growth: the
 * tree never skips a receipt.
 */
export class Trees {
  readonly #store: Store;
  readonly #open = new Map<string, RunTree>();
  readonly #busy = new Map<string, Promise<unknown>>();
  readonly #cache = new Map<string, Uint8Array>();

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Grows the agent's tree of run `r` to at least `size` leaves where the store holds the
   * receipts with seq base.. (it may stay smaller); returns the size reached.
   */
  grow(agent: string, r: LogRun, size: number): Promise<number> {
    return this.#serial(agent, async () => {
      const t = await this.#load(agent, r);
      try {
        while (t.size < size) {
          const rows = await this.#store.leaves(agent, r.base + t.size, Math.min(PAGE, size - t.size));
          const nodes: NodeRecord[] = [];
          const before = t.size;
          for (const row of rows) {
            if (row.seq !== r.base + t.size) break;
            append(t, row.hash, nodes);
          }
          if (t.size === before) break;
          await this.#store.growLogTree(agent, r.run, r.base, t.size, nodes);
        }
      } catch (err) {
        // The store did not take the nodes: forget the edge held here, it is reloaded next time.
        this.#open.delete(agent);
        throw err;
      }
      return t.size;
    });
  }

  /**
   * Root of the first `size` leaves of run `r`, growing the tree if needed; null when the
   * verifier does not hold that many consecutive receipts of the run.
   */
  async root(agent: string, r: LogRun, size: number): Promise<Uint8Array | null> {
    if ((await this.grow(agent, r, size)) < size) return null;
    const t = this.#open.get(agent);
    if (t !== undefined && t.run === r.run && t.base === r.base && t.size === size) return edgeRoot(t);
    return this.#withNodes(agent, r, (nodes) => rootAt(nodes, size));
  }

  /**
   * Inclusion proof of leaf `index` (seq base + index) in the first `size` leaves of run `r`.
   * @throws CoreError PROOF_RANGE_INVALID when the verifier holds fewer than `size` leaves of the run.
   */
  async inclusionProof(agent: string, r: LogRun, index: number, size: number): Promise<InclusionProof> {
    await this.#need(agent, r, size);
    return this.#withNodes(agent, r, (nodes) => inclusionProof(nodes, index, size));
  }

  /**
   * Consistency proof between sizes `from` and `to` of run `r`.
   * @throws CoreError PROOF_RANGE_INVALID when from > to or the verifier holds fewer than `to` leaves.
   */
  async consistencyProof(agent: string, r: LogRun, from: number, to: number): Promise<ConsistencyProof> {
    await this.#need(agent, r, to);
    return this.#withNodes(agent, r, (nodes) => consistencyProof(nodes, from, to));
  }

  /** How many hashes the verifier holds in memory for the agent (tests: O(log n), not O(n)). */
  heldHashes(agent: string): number {
    return this.#open.get(agent)?.frontier.filter((h) => h !== undefined).length ?? 0;
  }

  async #need(agent: string, r: LogRun, size: number): Promise<void> {
    const held = await this.grow(agent, r, size);
    if (held < size)
      throw new CoreError(
        'PROOF_RANGE_INVALID',
        `the verifier holds ${held} leaves of run ${r.run}, ${size} needed`,
      );
  }

  /**
   * Runs `f` (a pure proof or root computation, whose reads do not depend on hash values) once
   * to learn which nodes it reads, fetches them from the store in one call, and runs it again.
   */
  async #withNodes<T>(agent: string, r: LogRun, f: (nodes: TreeNodes) => T): Promise<T> {
    const want: { level: number; index: number }[] = [];
    const seen = new Set<string>();
    f({
      node(level, index) {
        const k = `${level}/${index}`;
        if (!seen.has(k)) {
          seen.add(k);
          want.push({ level, index });
        }
        return ZERO;
      },
    });
    const tree = `${agent}\n${r.run}\n${r.base}\n`;
    const map = new Map<string, Uint8Array | undefined>();
    const missing = want.filter(({ level, index }) => {
      const k = `${level}/${index}`;
      const hit = this.#cache.get(tree + k);
      if (hit === undefined) return true;
      map.set(k, hit);
      return false;
    });
    const got = await this.#store.logNodes(agent, r.run, r.base, missing);
    missing.forEach(({ level, index }, i) => {
      const h = got[i];
      map.set(`${level}/${index}`, h);
      if (h === undefined || level < CACHE_LEVEL) return;
      this.#cache.set(`${tree}${level}/${index}`, h);
      if (this.#cache.size > CACHE_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    });
    return f({
      node(level, index) {
        const h = map.get(`${level}/${index}`);
        if (h === undefined)
          throw new VerifierError(
            'STORE_FAILED',
            `node (${level}, ${index}) of ${agent} run ${r.run} is missing`,
          );
        return h;
      },
    });
  }

  async #load(agent: string, r: LogRun): Promise<RunTree> {
    const held = this.#open.get(agent);
    if (held !== undefined && held.run === r.run && held.base === r.base) return held;
    const size = await this.#store.logTreeSize(agent, r.run, r.base);
    // The right edge: one complete subtree per set bit of size, largest (leftmost) first.
    const at: { level: number; index: number }[] = [];
    let start = 0;
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level;
      if (Math.floor(size / width) % 2 === 1) {
        at.push({ level, index: start / width });
        start += width;
      }
    }
    const hashes = await this.#store.logNodes(agent, r.run, r.base, at);
    const t: RunTree = { run: r.run, base: r.base, size, frontier: [] };
    at.forEach(({ level, index }, i) => {
      const h = hashes[i];
      if (h === undefined)
        throw new VerifierError(
          'STORE_FAILED',
          `node (${level}, ${index}) of ${agent} run ${r.run} is missing`,
        );
      t.frontier[level] = h;
    });
    this.#open.set(agent, t);
    return t;
  }

  /** Runs `f` after every earlier call for the same agent: one grower per agent at a time. */
  #serial<T>(agent: string, f: () => Promise<T>): Promise<T> {
    const prev = this.#busy.get(agent) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.#busy.set(agent, tail);
    void tail.then(() => {
      if (this.#busy.get(agent) === tail) this.#busy.delete(agent);
    });
    return next;
  }
}

/** Appends a leaf to the right edge; the complete subtrees it finishes (level >= 1) go to `out`. */
function append(t: RunTree, leaf: Uint8Array, out: NodeRecord[]): void {
  const i = t.size;
  let h = leaf;
  let level = 0;
  for (let left = t.frontier[level]; left !== undefined; left = t.frontier[level]) {
    h = nodeHash(left, h);
    t.frontier[level] = undefined;
    level++;
    out.push({ level, index: Math.floor(i / 2 ** level), hash: h });
  }
  t.frontier[level] = h;
  t.size++;
}

/** RFC 6962 root of the whole tree from its right edge: smallest subtrees fold in first. */
function edgeRoot(t: RunTree): Uint8Array {
  let root: Uint8Array | undefined;
  for (const h of t.frontier) if (h !== undefined) root = root === undefined ? h : nodeHash(h, root);
  return root ?? EMPTY_ROOT;
}
