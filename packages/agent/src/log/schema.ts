import type { DatabaseSync } from 'node:sqlite';
import type { MigrationStep } from '@tmb/core/store';

/**
 * Storage layout of the receipt log (docs/proofs.md, "Agent storage"), SQLite in WAL mode.
 *
 * - log_runs: one row per log run (docs/checkpoint.md, "The run line"): run r's leaf i is the
 *   receipt with seq base + i. Run 0 has base 0; a run's base is above every seq of the runs
 *   before it. The current run is the highest. `reason` says why the run started.
 * - log_nodes: the hash of every complete subtree of every run. (run, level, idx) covers leaves
 *   [idx * 2^level, (idx + 1) * 2^level) of that run; level 0 holds the leaf hashes
 *   SHA-256(0x00 ‖ receipt). A node is written in the same transaction as the leaf that
 *   completes it, so the table never holds a node whose leaves are not all there. n leaves take
 *   fewer than 2n rows; any root or proof needs at most 2 log2(n) point reads (no leaf scans).
 * - log_checkpoints: every checkpoint note the log ever signed, in signing order, with its run.
 * - log_meta: `format` = LOG_FORMAT, for builds older than schema versions (they refuse a
 *   format they do not know; this build goes by `PRAGMA user_version`, LOG_STEPS).
 *
 * A run's size is MAX(idx) + 1 at level 0 of that run; nothing else is kept, so nothing can
 * disagree.
 */
export const LOG_FORMAT = 2;

/** The log's tables as they were before schema versions (version 1). Never edit: add a step. */
export const LOG_SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS log_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_checkpoints (
  seq  INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE IF NOT EXISTS log_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO log_meta (key, value) VALUES ('format', 1);
`;

// Version 2: log runs (issue 10). log_nodes gains the run in its key (a WITHOUT ROWID table
// cannot change its key in place: copied once, about 1 s per million leaves); the nodes and
// checkpoints written before are run 0's.
const LOG_RUNS_V2 = `
CREATE TABLE log_nodes_v2 (
  run   INTEGER NOT NULL,
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB NOT NULL,
  PRIMARY KEY (run, level, idx)
) STRICT, WITHOUT ROWID;
INSERT INTO log_nodes_v2 (run, level, idx, hash) SELECT 0, level, idx, hash FROM log_nodes;
DROP TABLE log_nodes;
ALTER TABLE log_nodes_v2 RENAME TO log_nodes;
ALTER TABLE log_checkpoints ADD COLUMN run INTEGER NOT NULL DEFAULT 0;
CREATE TABLE log_runs (
  run        INTEGER PRIMARY KEY,
  base       INTEGER NOT NULL,
  started_us INTEGER NOT NULL,
  reason     TEXT NOT NULL
) STRICT;
INSERT INTO log_runs (run, base, started_us, reason) VALUES (0, 0, 0, 'the first run');
UPDATE log_meta SET value = 2 WHERE key = 'format';
`;

/**
 * The receipt log's schema versions, for a log in a file of its own (`ReceiptLog.open(path)`).
 * When the log shares the receipt store's file (the agent), the store's steps (store/schema.ts)
 * include these at the same version numbers, so one `user_version` holds for both: the two lists
 * always have the same length (a test checks it).
 */
export const LOG_STEPS: readonly MigrationStep<DatabaseSync>[] = [
  { version: 1, description: 'receipt log tables', up: LOG_SCHEMA_V1 },
  { version: 2, description: 'log runs: log_runs, run in log_nodes and log_checkpoints', up: logV2 },
  { version: 3, description: 'no change to the log (the receipt store dropped an index)', up: logV3 },
];

/** Version 2 of the log's part (shared with the store's step 2). */
export function logV2(db: DatabaseSync): void {
  // A file marked version 1 by detection may lack the log tables (a store whose log never opened).
  db.exec(LOG_SCHEMA_V1);
  db.exec(LOG_RUNS_V2);
}

/**
 * Version 3 of the log's part: nothing. The store's step 3 dropped one of its own indexes; the
 * version number moves for the log too, because one `user_version` covers the whole file.
 */
export function logV3(_db: DatabaseSync): void {}

/** Whether an unversioned file already holds the log's version-1 tables (core migrate's `detect`). */
export function hasTable(db: DatabaseSync, name: string): boolean {
  return (
    db.prepare("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined
  );
}
