import type { DatabaseSync } from 'node:sqlite';
import { bytesEqual } from '@tmb/core';
import { type LogVerification, nodeHash, verifyConsistency } from '@tmb/core/log';
import type { ReceiptLog } from './tree.ts';

/**
 * ReceiptLog.audit: every checkpoint against its run's tree, consecutive checkpoints of one run
 * consistent with each other (never across runs: each run is its own log); with `deep`, every
 * stored interior node recomputed from the leaves first.
 */
export function auditLog(log: ReceiptLog, db: DatabaseSync, deep: boolean): LogVerification {
  const runs = log.runs();
  if (deep) {
    for (const r of runs) {
      const bad = firstBadNode(log, db, r.run, r.size);
      if (bad !== null)
        return { ok: false, code: 'CHECKPOINT_ROOT_MISMATCH', detail: `run ${r.run}: ${bad}` };
    }
  }
  const all = log.checkpoints().sort((a, b) => a.run - b.run || a.size - b.size || a.seq - b.seq);
  for (const cp of all) {
    const r = log.checkCheckpoint(cp);
    if (!r.ok) return { ...r, detail: `checkpoint ${cp.seq}: ${r.detail}` };
  }
  for (let i = 1; i < all.length; i++) {
    const a = all[i - 1]!;
    const b = all[i]!;
    if (a.run !== b.run) continue;
    const r = verifyConsistency(log.consistencyProof(a.size, b.size, a.run), a.root, b.root);
    if (!r.ok) return { ...r, detail: `checkpoints ${a.seq} -> ${b.seq}: ${r.detail}` };
  }
  const leaves = runs.reduce((n, r) => n + r.size, 0);
  return {
    ok: true,
    detail: `${all.length} checkpoints match the trees of ${runs.length} run(s), ${leaves} leaves, and each other`,
  };
}

function firstBadNode(log: ReceiptLog, db: DatabaseSync, run: number, size: number): string | null {
  const tree = log.tree(run);
  const right: Uint8Array[] = [];
  let index = 0;
  for (const row of db
    .prepare('SELECT idx, hash FROM log_nodes WHERE run = ? AND level = 0 ORDER BY idx')
    .iterate(run)) {
    const { idx, hash } = row as { idx: number; hash: Uint8Array };
    if (idx !== index) return `leaf ${index} is missing`;
    let h = hash;
    let i = idx;
    let level = 0;
    while (i % 2 === 1) {
      h = nodeHash(right[level]!, h);
      level++;
      i = (i - 1) / 2;
      if (!bytesEqual(tree.node(level, i), h)) return `node (${level}, ${i}) does not match its leaves`;
    }
    right[level] = h;
    index++;
  }
  return index === size ? null : `tree size ${size} but ${index} leaves`;
}
