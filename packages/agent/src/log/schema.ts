/**
 * Storage layout of the receipt log (docs/proofs.md, "Agent storage"), SQLite in WAL mode.
 *
 * - log_nodes: the hash of every complete subtree. (level, idx) covers leaves
 *   [idx * 2^level, (idx + 1) * 2^level); level 0 holds the leaf hashes SHA-256(0x00 ‖ receipt).
 *   A node is written in the same transaction as the leaf that completes it, so the table never
 *   holds a node whose leaves are not all there. n leaves take fewer than 2n rows; any root or
 *   proof needs at most 2 log2(n) point reads (no leaf scans).
 * - log_checkpoints: every checkpoint note the log ever signed, in signing order.
 * - log_meta: `format` = LOG_FORMAT. A change to these tables bumps it.
 *
 * The tree size is MAX(idx) + 1 at level 0; nothing else is kept, so nothing can disagree.
 */
export const LOG_FORMAT = 1;

export const LOG_SCHEMA = `
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
`;
