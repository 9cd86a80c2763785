import type { DatabaseSync } from 'node:sqlite';
import type { MigrationStep } from '@tmb/core/store';
import { hasTable, LOG_SCHEMA_V1, logV2, logV3 } from '../log/schema.ts';

/**
 * The agent's receipt store (receipts.db, SQLite in WAL mode) as it was before schema versions
 * (version 1). Never edit: add a step to RECEIPT_STEPS.
 *
 * - keys: one row per receipt-signing key this agent ever had (one per start), with its
 *   enrolment proof, so receipts of a run that never reached the verifier can still be
 *   enrolled and pushed by a later run.
 * - receipts: one row per receipt, `seq` = the receipt's position in the agent's log, dense from 0
 *   (numbered inside the commit: store.ts). `pushed` is 0 until the verifier answered for it;
 *   `push_code` keeps a rejection's code.
 */
export const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS keys (
  key_id     TEXT PRIMARY KEY,
  public_key BLOB NOT NULL,
  proof      BLOB NOT NULL,
  created_us INTEGER NOT NULL,
  enrolled   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS receipts (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  request_id TEXT NOT NULL,
  key_id     TEXT NOT NULL REFERENCES keys(key_id),
  body       BLOB NOT NULL,
  sig        BLOB NOT NULL,
  pushed     INTEGER NOT NULL DEFAULT 0,
  push_code  TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_unpushed ON receipts(seq) WHERE pushed = 0;
CREATE INDEX IF NOT EXISTS receipts_request ON receipts(request_id);
`;

/**
 * Schema versions of receipts.db (core migrate, `PRAGMA user_version`). The receipt log lives in
 * the same file (agent.ts), so each step also does the log's step of the same version
 * (log/schema.ts LOG_STEPS): one version number for the whole file.
 * - 1: keys, receipts; the log's tables.
 * - 2: log runs (issue 10); an index of the receipts the verifier rejected (a rejection in the
 *   current run starts a new one: log/feeder.ts).
 * - 3: drops receipts_request (issue 12): no query ever read it, and with random request ids each
 *   receipt's insert dirtied one more random page, ~10-15 µs of the agent's time per receipt
 *   (measured with the receipt store alone, 20,000 receipts, batches of 1-16).
 */
export const RECEIPT_STEPS: readonly MigrationStep<DatabaseSync>[] = [
  { version: 1, description: 'keys, receipts and the receipt log tables', up: SCHEMA_V1 + LOG_SCHEMA_V1 },
  {
    version: 2,
    description: 'log runs; index of rejected receipts',
    up: (db) => {
      logV2(db);
      db.exec('CREATE INDEX receipts_rejected ON receipts(seq) WHERE push_code IS NOT NULL');
    },
  },
  { version: 3, description: 'drop the unused index receipts_request', up: dropRequestIndex },
];

/** Version 3: receipts_request goes (the log's step 3 changes nothing: log/schema.ts). */
function dropRequestIndex(db: DatabaseSync): void {
  db.exec('DROP INDEX IF EXISTS receipts_request');
  logV3(db);
}

/** Version of an unversioned receipts.db: 1 when it has the receipts table, else 0 (empty). */
export function detectReceipts(db: DatabaseSync): number {
  return hasTable(db, 'receipts') ? 1 : 0;
}
