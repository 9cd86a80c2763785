import { MemoryTree } from '@tmb/core/log';
import type { Store } from '../store/types.ts';

const PAGE = 10_000;

/**
 * Each agent's receipt log as the verifier rebuilds it from the receipts it holds (leaf =
 * receipt with seq i), in memory (32 bytes a leaf and the nodes above), grown on demand from
 * the store. A missing seq stops the growth: the tree never skips a receipt.
 */
export class Trees {
  readonly #store: Store;
  readonly #trees = new Map<string, MemoryTree>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** The agent's tree grown to at least `size` leaves where the store holds them (it may stay smaller). */
  async upTo(agent: string, size: number): Promise<MemoryTree> {
    let tree = this.#trees.get(agent);
    if (tree === undefined) {
      tree = new MemoryTree();
      this.#trees.set(agent, tree);
    }
    while (tree.size < size) {
      const rows = await this.#store.leaves(agent, tree.size, Math.min(PAGE, size - tree.size));
      let grew = false;
      for (const r of rows) {
        if (r.seq !== tree.size) break;
        tree.push(r.hash);
        grew = true;
      }
      if (!grew) break;
    }
    return tree;
  }
}
