import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CoreError } from '@tmb/core';
import { leafHash } from '@tmb/core/log';
import { type MigrateResult, type MigrationStep, migrate } from '@tmb/core/store';
import { VerifierError } from '../errors.ts';
import { ARCHIVE_TABLE_SQL, ArchiveTables } from './archive-tables.ts';
import { keyRow, receiptRow } from './rows.ts';
import { STATE_TABLES_SQL, StateTables } from './state-tables.ts';
import { TREE_TABLES_SQL, TreeTables } from './tree-tables.ts';
import type {
  ArchivedAt,
  ArchivedQuoteIn,
  ArchivedRow,
  KeyRecord,
  LeafRecord,
  NodeRecord,
  NonceUse,
  Refusal,
  Store,
  StoredReceipt,
  VersionedAttest,
} from './types.ts';

// Version 1: the schema as it stood before versions were recorded (issue 9). Frozen: a change
// is a new step in VERIFIER_MIGRATIONS, never an edit here (test/store/migrate.test.ts opens a
// database made with exactly this SQL).
const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS agent_keys (
  key_id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  key BLOB NOT NULL,
  enrolled_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS receipts (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  agent TEXT NOT NULL,
  key_id TEXT NOT NULL,
  body BLOB NOT NULL,
  sig BLOB NOT NULL,
  received_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_request_id ON receipts (request_id);
CREATE TABLE IF NOT EXISTS log_leaves (
  agent TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (agent, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attest_agents (
  agent TEXT PRIMARY KEY,
  state TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS agent_keys_agent ON agent_keys (agent, enrolled_at);
CREATE TABLE IF NOT EXISTS key_runs (
  key_id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  first_seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS ak_allowances (
  agent TEXT PRIMARY KEY,
  allowed_at INTEGER NOT NULL
) STRICT;
`;

/**
 * The verifier store's schema history, oldest first (docs/deploy.md, "Migrations"). Opening a
 * store applies the steps its database lacks, each in its own transaction, and records the
 * version in `PRAGMA user_version`; a database newer than the last step is refused
 * (STORE_SCHEMA_TOO_NEW). Append only: a shipped step is never edited or removed.
 */
export const VERIFIER_MIGRATIONS: readonly MigrationStep<DatabaseSync>[] = [
  {
    version: 1,
    description: 'keys, receipts, log leaves, attestation state, key runs, AK allowances',
    up: SCHEMA_V1,
  },
  // Issue 10, log runs (LOGVERIFIER): per-run Merkle trees of each agent, refused log positions.
  { version: 2, description: 'verifier log trees per run, log refusals', up: TREE_TABLES_SQL },
  // Issue 12, several verifier processes on one database (VSTATE): nonces, pending AK
  // enrolments and attestation row versions move from memory to the store.
  {
    version: 3,
    description: 'quote nonces, pending AK enrolments, attestation row versions',
    up: STATE_TABLES_SQL,
  },
  // Issue 12, scale: the bundle archive gets a row per quote instead of a growing index row.
  {
    version: 4,
    description: 'bundle archive: one row per accepted quote (moved from the attestation rows)',
    up: ARCHIVE_TABLE_SQL,
  },
];

/** A database written before versions were recorded holds `agent_keys`: it is version 1. */
function detectVersion(db: DatabaseSync): number {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agent_keys'").get() ? 1 : 0;
}

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** Called for each migration step applied while opening (the server logs it). Left out: silent. */
  onMigrated?: (step: { version: number; description: string }) => void;
}

/**
 * The embedded store: one node:sqlite database in WAL mode (readers never block the writer).
 * Calls are synchronous underneath; they are wrapped in promises to fit the Store interface.
 * Opening migrates the database to the newest schema (VERIFIER_MIGRATIONS).
 * @throws VerifierError STORE_FAILED when the database cannot be opened or a migration fails
 * @throws CoreError STORE_SCHEMA_TOO_NEW when a newer build wrote the database
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;
  readonly #trees: TreeTables;
  readonly #state: StateTables;
  readonly #archive: ArchiveTables;
  /** The schema version found on opening and the version now (after migrations). */
  readonly schema: MigrateResult;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path);
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
      this.schema = migrate(db, VERIFIER_MIGRATIONS, {
        store: 'verifier',
        detect: detectVersion,
        onApplied: options.onMigrated,
      });
      this.#db = db;
    } catch (cause) {
      if (db?.isOpen) db.close();
      // A schema newer than this build is the operator's to fix (run the newer build): its own code.
      if (cause instanceof CoreError && cause.code === 'STORE_SCHEMA_TOO_NEW') throw cause;
      throw new VerifierError('STORE_FAILED', `cannot open the store at ${path}`, { cause });
    }
    this.#trees = new TreeTables(this.#db);
    this.#state = new StateTables(this.#db);
    this.#archive = new ArchiveTables(this.#db);
    const p = (sql: string) => this.#db.prepare(sql);
    this.#q = {
      addKey: p(
        'INSERT INTO agent_keys (key_id, agent, key, enrolled_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      getKey: p('SELECT * FROM agent_keys WHERE key_id = ?'),
      listKeys: p('SELECT * FROM agent_keys ORDER BY agent, enrolled_at, key_id'),
      agentKeys: p('SELECT * FROM agent_keys WHERE agent = ? ORDER BY enrolled_at, rowid'),
      getLeaf: p('SELECT hash FROM log_leaves WHERE agent = ? AND seq = ?'),
      putRun: p(
        'INSERT INTO key_runs (key_id, agent, first_seq) VALUES (?, ?, ?) ON CONFLICT (key_id) DO UPDATE SET first_seq = min(first_seq, excluded.first_seq)',
      ),
      firstSeqs: p('SELECT key_id, first_seq FROM key_runs WHERE agent = ?'),
      allowAk: p(
        'INSERT INTO ak_allowances (agent, allowed_at) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET allowed_at = excluded.allowed_at',
      ),
      takeAk: p('DELETE FROM ak_allowances WHERE agent = ?'),
      putReceipt: p(
        'INSERT INTO receipts (id, request_id, agent, key_id, body, sig, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      getReceipt: p('SELECT * FROM receipts WHERE id = ?'),
      byRequestId: p('SELECT * FROM receipts WHERE request_id = ? ORDER BY received_at, id LIMIT ?'),
      putLeaf: p('INSERT INTO log_leaves (agent, seq, hash) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      leaves: p('SELECT seq, hash FROM log_leaves WHERE agent = ? AND seq >= ? ORDER BY seq LIMIT ?'),
      getAttest: p('SELECT state FROM attest_agents WHERE agent = ?'),
      getAttestRows: p(
        'SELECT agent, state FROM attest_agents WHERE agent IN (SELECT value FROM json_each(?))',
      ),
      putAttest: p(
        'INSERT INTO attest_agents (agent, state) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET state = excluded.state, version = version + 1',
      ),
    };
  }

  async addKey(r: KeyRecord): Promise<boolean> {
    return this.#q.addKey!.run(r.keyId, r.agent, r.key, r.enrolledAt).changes === 1;
  }

  async getKey(keyId: string): Promise<KeyRecord | undefined> {
    const row = this.#q.getKey!.get(keyId);
    return row === undefined ? undefined : keyRow(row);
  }

  async listKeys(): Promise<KeyRecord[]> {
    return this.#q.listKeys!.all().map(keyRow);
  }

  async agentKeys(agent: string): Promise<KeyRecord[]> {
    return this.#q.agentKeys!.all(agent).map(keyRow);
  }

  async firstSeqs(agent: string): Promise<Map<string, number>> {
    const rows = this.#q.firstSeqs!.all(agent);
    return new Map(rows.map((r) => [r.key_id as string, Number(r.first_seq)]));
  }

  async allowAkReplacement(agent: string, at: number): Promise<void> {
    this.#q.allowAk!.run(agent, at);
  }

  async takeAkAllowance(agent: string): Promise<boolean> {
    return this.#q.takeAk!.run(agent).changes === 1;
  }

  async putReceipts(list: readonly StoredReceipt[]): Promise<('inserted' | 'seq-taken' | StoredReceipt)[]> {
    // One transaction per batch: ~10x fewer commits than one per receipt (measured ~105 µs per
    // autocommit insert on the shared dev machine).
    const out: ('inserted' | 'seq-taken' | StoredReceipt)[] = [];
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of list) {
        // A log position holds one receipt: another receipt already there (another id, so other
        // bytes) keeps it, and this one is refused rather than stored off the log.
        if (r.seq !== undefined && this.#q.getReceipt!.get(r.id) === undefined) {
          if (this.#q.getLeaf!.get(r.agent, r.seq) !== undefined) {
            out.push('seq-taken');
            continue;
          }
        }
        const { changes } = this.#q.putReceipt!.run(
          r.id,
          r.requestId,
          r.agent,
          r.keyId,
          r.body,
          r.sig,
          r.receivedAt,
        );
        if (changes === 1) {
          if (r.seq !== undefined) {
            this.#q.putLeaf!.run(r.agent, r.seq, leafHash(r.body));
            this.#q.putRun!.run(r.keyId, r.agent, r.seq);
          }
          out.push('inserted');
          continue;
        }
        const row = this.#q.getReceipt!.get(r.id);
        if (row === undefined) throw new VerifierError('STORE_FAILED', `receipt ${r.id} vanished`);
        out.push(receiptRow(row));
      }
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
    return out;
  }

  async getReceipt(id: string): Promise<StoredReceipt | undefined> {
    const row = this.#q.getReceipt!.get(id);
    return row === undefined ? undefined : receiptRow(row);
  }

  async byRequestId(requestId: string, limit: number): Promise<StoredReceipt[]> {
    return this.#q.byRequestId!.all(requestId, limit).map(receiptRow);
  }

  async leaves(agent: string, from: number, limit: number): Promise<LeafRecord[]> {
    return this.#q.leaves!.all(agent, from, limit).map((r) => ({
      seq: Number(r.seq),
      hash: new Uint8Array(r.hash as Uint8Array),
    }));
  }

  async getAttest(agent: string): Promise<string | undefined> {
    const row = this.#q.getAttest!.get(agent);
    return row === undefined ? undefined : (row.state as string);
  }

  async putAttest(agent: string, state: string): Promise<void> {
    this.#q.putAttest!.run(agent, state);
  }

  async getAttestRows(keys: readonly string[]): Promise<(string | undefined)[]> {
    const rows = this.#q.getAttestRows!.all(JSON.stringify(keys));
    const by = new Map(rows.map((r) => [r.agent as string, r.state as string]));
    return keys.map((k) => by.get(k));
  }

  async putAttestRows(rows: readonly (readonly [string, string])[]): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const [k, v] of rows) this.#q.putAttest!.run(k, v);
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
  }

  async logTreeSize(agent: string, run: number, base: number): Promise<number> {
    return this.#trees.size(agent, run, base);
  }

  async logNodes(
    agent: string,
    run: number,
    base: number,
    at: readonly { level: number; index: number }[],
  ): Promise<(Uint8Array | undefined)[]> {
    return this.#trees.nodes(agent, run, base, at);
  }

  async growLogTree(agent: string, run: number, base: number, size: number, nodes: readonly NodeRecord[]) {
    this.#trees.grow(agent, run, base, size, nodes);
  }

  async putRefusals(agent: string, list: readonly Refusal[]): Promise<void> {
    this.#trees.putRefusals(agent, list);
  }

  async firstRefusal(agent: string, from: number, to: number): Promise<Refusal | undefined> {
    return this.#trees.firstRefusal(agent, from, to);
  }

  async issueNonce(agent: string, nonce: string, expiresAt: number, now: number, perAgent: number) {
    this.#state.issueNonce(agent, nonce, expiresAt, now, perAgent);
  }

  async consumeNonce(agent: string, nonce: string, now: number): Promise<NonceUse> {
    return this.#state.consumeNonce(agent, nonce, now);
  }

  async putPendingAk(agent: string, state: string, expiresAt: number): Promise<void> {
    this.#state.putPendingAk(agent, state, expiresAt);
  }

  async takePendingAk(agent: string, now: number): Promise<string | undefined> {
    return this.#state.takePendingAk(agent, now);
  }

  async hasPendingAk(agent: string, now: number): Promise<boolean> {
    return this.#state.hasPendingAk(agent, now);
  }

  async readAttest(key: string, known?: number): Promise<VersionedAttest | undefined> {
    return this.#state.readAttest(key, known);
  }

  async putAttestIf(key: string, state: string, version: number): Promise<number | undefined> {
    return this.#state.putAttestIf(key, state, version);
  }

  async storedReceipts(ids: readonly string[]): Promise<Set<string>> {
    return this.#state.storedReceipts(ids);
  }

  async appendArchived(agent: string, q: ArchivedQuoteIn, keepBoots: number) {
    return this.#archive.append(agent, q, keepBoots);
  }

  async archivedFor(agent: string, seq: number): Promise<ArchivedRow[]> {
    return this.#archive.judging(agent, seq);
  }

  async archivedAt(agent: string, seq: number): Promise<ArchivedAt> {
    return this.#archive.at(agent, seq);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
