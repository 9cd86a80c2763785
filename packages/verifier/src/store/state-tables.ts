import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { NonceUse, VersionedAttest } from './types.ts';

/**
 * Schema step of the verifier store for state several verifier processes share (issue 12,
 * docs/deploy.md "Several processes"): quote nonces, pending AK enrolments, and a version on
 * each attestation row so that a process caching one can tell when another process wrote it.
 * Rows written before this step get version 1.
 */
export const STATE_TABLES_SQL = `
ALTER TABLE attest_agents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE IF NOT EXISTS attest_nonces (
  nonce TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS attest_nonces_expiry ON attest_nonces (expires_at);
CREATE INDEX IF NOT EXISTS attest_nonces_agent ON attest_nonces (agent, expires_at);
CREATE TABLE IF NOT EXISTS pending_aks (
  agent TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
`;

/** The statements behind the Store's shared-state methods (SqliteStore delegates here). */
export class StateTables {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      expire: p('DELETE FROM attest_nonces WHERE expires_at <= ?'),
      issue: p('INSERT INTO attest_nonces (nonce, agent, expires_at, used) VALUES (?, ?, ?, 0)'),
      trim: p(
        `DELETE FROM attest_nonces WHERE agent = ? AND rowid NOT IN
           (SELECT rowid FROM attest_nonces WHERE agent = ? ORDER BY expires_at DESC, rowid DESC LIMIT ?)`,
      ),
      use: p(
        'UPDATE attest_nonces SET used = 1 WHERE nonce = ? AND agent = ? AND expires_at > ? AND used = 0',
      ),
      nonce: p('SELECT agent, expires_at, used FROM attest_nonces WHERE nonce = ?'),
      putPending: p(
        'INSERT INTO pending_aks (agent, state, expires_at) VALUES (?, ?, ?) ON CONFLICT (agent) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at',
      ),
      takePending: p('DELETE FROM pending_aks WHERE agent = ? RETURNING state, expires_at'),
      hasPending: p('SELECT 1 FROM pending_aks WHERE agent = ? AND expires_at > ?'),
      readAttest: p(
        'SELECT version, CASE WHEN version = ? THEN NULL ELSE state END AS state FROM attest_agents WHERE agent = ?',
      ),
      createAttest: p(
        'INSERT INTO attest_agents (agent, state, version) VALUES (?, ?, 1) ON CONFLICT DO NOTHING',
      ),
      updateAttest: p(
        'UPDATE attest_agents SET state = ?, version = version + 1 WHERE agent = ? AND version = ?',
      ),
      stored: p('SELECT id FROM receipts WHERE id IN (SELECT value FROM json_each(?))'),
    };
  }

  issueNonce(agent: string, nonce: string, expiresAt: number, now: number, perAgent: number): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#q.expire!.run(now);
      this.#q.issue!.run(nonce, agent, expiresAt);
      this.#q.trim!.run(agent, agent, perAgent);
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
  }

  consumeNonce(agent: string, nonce: string, now: number): NonceUse {
    // The conditional UPDATE decides: of two consumers (any processes) only one changes the row.
    if (this.#q.use!.run(nonce, agent, now).changes === 1) return 'ok';
    const row = this.#q.nonce!.get(nonce);
    if (row === undefined || Number(row.expires_at) <= now) return 'unknown';
    if (row.agent !== agent) return 'other-agent';
    return 'reused';
  }

  putPendingAk(agent: string, state: string, expiresAt: number): void {
    this.#q.putPending!.run(agent, state, expiresAt);
  }

  takePendingAk(agent: string, now: number): string | undefined {
    const row = this.#q.takePending!.get(agent);
    return row === undefined || Number(row.expires_at) <= now ? undefined : (row.state as string);
  }

  hasPendingAk(agent: string, now: number): boolean {
    return this.#q.hasPending!.get(agent, now) !== undefined;
  }

  readAttest(key: string, known?: number): VersionedAttest | undefined {
    const row = this.#q.readAttest!.get(known ?? -1, key);
    if (row === undefined) return undefined;
    const version = Number(row.version);
    return row.state === null ? { version } : { version, state: row.state as string };
  }

  putAttestIf(key: string, state: string, version: number): number | undefined {
    const changed =
      version === 0
        ? this.#q.createAttest!.run(key, state).changes
        : this.#q.updateAttest!.run(state, key, version).changes;
    return changed === 1 ? version + 1 : undefined;
  }

  storedReceipts(ids: readonly string[]): Set<string> {
    if (ids.length === 0) return new Set();
    const rows = this.#q.stored!.all(JSON.stringify(ids));
    return new Set(rows.map((r) => r.id as string));
  }
}
