import type { StatementSync } from 'node:sqlite';
import { nodeHash } from '@tmb/core/log';

/**
 * Writes `leaves` as leaves `first`, `first` + 1, ... of run `run` with `put` (INSERT of
 * run, level, idx, hash), and every complete subtree they close, updating `frontier` (the right
 * edge: frontier[l] is the hash of the complete subtree at level l, valid when bit l of the size is
 * set) in place. The caller passes a copy and keeps it only once the transaction commits.
 */
export function putLeaves(
  put: StatementSync,
  run: number,
  first: number,
  frontier: Uint8Array[],
  leaves: readonly Uint8Array[],
): void {
  for (let i = 0; i < leaves.length; i++) {
    let h = leaves[i]!;
    let idx = first + i;
    let level = 0;
    put.run(run, 0, idx, h);
    while (idx % 2 === 1) {
      h = nodeHash(frontier[level]!, h);
      level++;
      idx = (idx - 1) / 2;
      put.run(run, level, idx, h);
    }
    frontier[level] = h;
  }
}
