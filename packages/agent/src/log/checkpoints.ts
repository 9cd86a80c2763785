import { type FileHandle, open } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';

/** A checkpoint the log signed and stored. */
export interface StoredCheckpoint {
  /** Signing order, from 1. */
  seq: number;
  /** The log run it is of (docs/checkpoint.md, "The run line"); 0 without a run line. */
  run: number;
  /** Seq of its run's leaf 0: it covers the receipts with seq base .. base + size - 1. */
  base: number;
  size: number;
  root: Uint8Array;
  /** The signed note, exactly as served. */
  note: string;
}

/** Checkpoints with their run's base (log_checkpoints joined with log_runs). */
export const SELECT_CHECKPOINT =
  'SELECT c.seq, c.run, COALESCE(r.base, 0) AS base, c.size, c.root, c.note FROM log_checkpoints c LEFT JOIN log_runs r ON r.run = c.run';

/** A row of SELECT_CHECKPOINT. */
export function toCheckpoint(row: Record<string, unknown>): StoredCheckpoint {
  return {
    seq: row.seq as number,
    run: row.run as number,
    base: row.base as number,
    size: row.size as number,
    root: row.root as Uint8Array,
    note: row.note as string,
  };
}

/** fsync of a database's WAL file, off the event loop; nothing to do for an in-memory database. */
export async function syncWal(db: DatabaseSync): Promise<void> {
  const path = db.location();
  if (path === null || path === '') return;
  let fh: FileHandle;
  try {
    fh = await open(`${path}-wal`, 'r+');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing written since the last checkpoint
    throw cause;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
