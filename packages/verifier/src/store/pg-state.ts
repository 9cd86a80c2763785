import type { Sql } from './pg-connect.ts';
import { chunks } from './pg-receipts.ts';
import { via } from './pg-route.ts';
import type { NonceUse, VersionedAttest } from './types.ts';

/**
 * The Store's shared-state methods on PostgreSQL (state-tables.ts is the SQLite twin; the
 * semantics are written on the Store interface, store/types.ts). Each race is settled by one
 * conditional statement, so it holds across processes under READ COMMITTED.
 */
export class PgState {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** The pool, or the agent lock's transaction in a locked run (pg-route.ts). */
  get #q(): Sql {
    return via(this.#sql);
  }

  async issueNonce(agent: string, nonce: string, expiresAt: number, now: number, perAgent: number) {
    // One statement, atomic by itself (one round trip, no BEGIN/COMMIT), with the effect of the
    // three steps in order: delete the expired; insert; keep the agent's newest perAgent live
    // nonces by (expires_at, ord). Its parts all read the same snapshot, without the new row, so
    // the new row's place is counted in: it has the highest ord, so it ranks above an existing
    // live row R iff expiresAt >= R.expires_at, and it is itself kept (inserted) iff fewer than
    // perAgent live rows expire after it.
    await this.#q`WITH expired AS (
        DELETE FROM attest_nonces WHERE expires_at <= ${now}
      ), ranked AS (
        SELECT nonce, expires_at, row_number() OVER (ORDER BY expires_at DESC, ord DESC) AS rn
        FROM attest_nonces WHERE agent = ${agent} AND expires_at > ${now}
      ), capped AS (
        DELETE FROM attest_nonces WHERE nonce IN (SELECT nonce FROM ranked
          WHERE rn + CASE WHEN ${expiresAt}::bigint >= expires_at THEN 1 ELSE 0 END > ${perAgent}::bigint)
      )
      INSERT INTO attest_nonces (nonce, agent, expires_at)
      SELECT ${nonce}::text, ${agent}::text, ${expiresAt}::bigint
      WHERE (SELECT count(*) FROM ranked WHERE expires_at > ${expiresAt}::bigint) < ${perAgent}::bigint`;
  }

  async consumeNonce(agent: string, nonce: string, now: number): Promise<NonceUse> {
    // The conditional UPDATE decides: of two consumers (any processes) one changes the row; the
    // other waits on its row lock, re-checks `NOT used` after it commits and changes nothing.
    const used = await this.#q`UPDATE attest_nonces SET used = true
      WHERE nonce = ${nonce} AND agent = ${agent} AND expires_at > ${now} AND NOT used`;
    if (used.count === 1) return 'ok';
    const [row] = await this.#q`SELECT agent, expires_at FROM attest_nonces WHERE nonce = ${nonce}`;
    if (row === undefined || Number(row.expires_at) <= now) return 'unknown';
    return row.agent !== agent ? 'other-agent' : 'reused';
  }

  async putPendingAk(agent: string, state: string, expiresAt: number): Promise<void> {
    await this.#q`INSERT INTO pending_aks (agent, state, expires_at) VALUES (${agent}, ${state}, ${expiresAt})
      ON CONFLICT (agent) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`;
  }

  async takePendingAk(agent: string, now: number): Promise<string | undefined> {
    const [row] = await this.#q`DELETE FROM pending_aks WHERE agent = ${agent} RETURNING state, expires_at`;
    return row === undefined || Number(row.expires_at) <= now ? undefined : (row.state as string);
  }

  async hasPendingAk(agent: string, now: number): Promise<boolean> {
    const rows = await this.#q`SELECT 1 FROM pending_aks WHERE agent = ${agent} AND expires_at > ${now}`;
    return rows.length > 0;
  }

  async readAttest(key: string, known?: number): Promise<VersionedAttest | undefined> {
    const [row] = await this
      .#q`SELECT version, CASE WHEN version = ${known ?? -1} THEN NULL ELSE state END AS state
      FROM attest_agents WHERE agent = ${key}`;
    if (row === undefined) return undefined;
    const version = Number(row.version);
    return row.state === null ? { version } : { version, state: row.state as string };
  }

  async putAttest(key: string, state: string): Promise<void> {
    await this.#q`INSERT INTO attest_agents (agent, state) VALUES (${key}, ${state})
      ON CONFLICT (agent) DO UPDATE SET state = excluded.state, version = attest_agents.version + 1`;
  }

  async putAttestIf(key: string, state: string, version: number): Promise<number | undefined> {
    // On the pool even in a locked run: the caller (store/versioned.ts) caches what it wrote by
    // version, which a rollback of the run's transaction would leave naming a version another
    // writer may then give other content. Committed as made, it is also seen before the run's
    // other writes (attest/intake.ts records the host segment so).
    const done =
      version === 0
        ? await this.#sql`INSERT INTO attest_agents (agent, state, version) VALUES (${key}, ${state}, 1)
            ON CONFLICT DO NOTHING`
        : await this.#sql`UPDATE attest_agents SET state = ${state}, version = version + 1
            WHERE agent = ${key} AND version = ${version}`;
    return done.count === 1 ? version + 1 : undefined;
  }

  async storedReceipts(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const part of chunks([...ids])) {
      const rows = await this.#q`SELECT id FROM receipts WHERE id = ANY(${this.#q.array(part)}::text[])`;
      for (const r of rows) out.add(r.id as string);
    }
    return out;
  }
}
