import { PG_ARCHIVE_TABLE } from './pg-archive.ts';
import type { PgMigrationStep } from './pg-migrate.ts';

// The SQLite schema (sqlite.ts, tree-tables.ts, state-tables.ts) in PostgreSQL's words: BYTEA for
// blobs, BIGINT for Unix ms and log positions, text keys in the "C" collation so that ORDER BY
// compares bytes as SQLite's BINARY does, and an identity column where SQLite orders by rowid.
const KEYS_AND_RECEIPTS = `
CREATE TABLE agent_keys (
  key_id TEXT COLLATE "C" PRIMARY KEY,
  agent TEXT COLLATE "C" NOT NULL,
  key BYTEA NOT NULL,
  enrolled_at BIGINT NOT NULL,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX agent_keys_agent ON agent_keys (agent, enrolled_at, ord);
CREATE TABLE receipts (
  id TEXT COLLATE "C" PRIMARY KEY,
  request_id TEXT COLLATE "C" NOT NULL,
  agent TEXT COLLATE "C" NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  body BYTEA NOT NULL,
  sig BYTEA NOT NULL,
  received_at BIGINT NOT NULL
);
CREATE INDEX receipts_request_id ON receipts (request_id, received_at, id);
CREATE TABLE log_leaves (
  agent TEXT COLLATE "C" NOT NULL,
  seq BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (agent, seq)
);
CREATE TABLE attest_agents (
  agent TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL
);
CREATE TABLE key_runs (
  key_id TEXT COLLATE "C" PRIMARY KEY,
  agent TEXT COLLATE "C" NOT NULL,
  first_seq BIGINT NOT NULL
);
CREATE INDEX key_runs_agent ON key_runs (agent);
CREATE TABLE ak_allowances (
  agent TEXT COLLATE "C" PRIMARY KEY,
  allowed_at BIGINT NOT NULL
);
CREATE TABLE verifier_log_trees (
  agent TEXT COLLATE "C" NOT NULL,
  run BIGINT NOT NULL,
  base BIGINT NOT NULL,
  size BIGINT NOT NULL,
  PRIMARY KEY (agent, run, base)
);
CREATE TABLE verifier_log_nodes (
  agent TEXT COLLATE "C" NOT NULL,
  run BIGINT NOT NULL,
  base BIGINT NOT NULL,
  level INTEGER NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (agent, run, base, level, idx)
);
CREATE TABLE log_refusals (
  agent TEXT COLLATE "C" NOT NULL,
  seq BIGINT NOT NULL,
  code TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (agent, seq)
);
`;

const SHARED_STATE = `
ALTER TABLE attest_agents ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TABLE attest_nonces (
  nonce TEXT COLLATE "C" PRIMARY KEY,
  agent TEXT COLLATE "C" NOT NULL,
  expires_at BIGINT NOT NULL,
  used BOOLEAN NOT NULL DEFAULT false,
  ord BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX attest_nonces_expiry ON attest_nonces (expires_at);
CREATE INDEX attest_nonces_agent ON attest_nonces (agent, expires_at);
CREATE TABLE pending_aks (
  agent TEXT COLLATE "C" PRIMARY KEY,
  state TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
`;

/**
 * The PostgreSQL verifier store's schema history, oldest first (docs/deploy.md "PostgreSQL"),
 * recorded per step in `tmb_schema` under the store name `verifier`. Append only.
 */
export const PG_VERIFIER_MIGRATIONS: readonly PgMigrationStep[] = [
  {
    version: 1,
    description:
      'keys, receipts, log leaves, attestation state, key runs, AK allowances, log trees, refusals',
    up: KEYS_AND_RECEIPTS,
  },
  {
    version: 2,
    description: 'shared state of several processes: quote nonces, pending AKs, attestation row versions',
    up: SHARED_STATE,
  },
  {
    version: 3,
    description: 'bundle archive: one row per accepted quote (moved from the attestation rows)',
    up: PG_ARCHIVE_TABLE,
  },
];
