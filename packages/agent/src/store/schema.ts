/**
 * The agent's receipt store (receipts.db, SQLite in WAL mode).
 *
 * - keys: one row per receipt-signing key this agent ever had (one per start), with its
 *   enrolment proof, so receipts of a run that never reached the verifier can still be
 *   enrolled and pushed by a later run.
 * - receipts: one row per receipt, `seq` = the receipt's index in the agent's log, dense from 0.
 *   `pushed` is 0 until the verifier answered for it; `push_code` keeps a rejection's code.
 */
export const SCHEMA = `
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
