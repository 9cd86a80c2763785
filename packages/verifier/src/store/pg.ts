import { CoreError } from '@tmb/core';
import type { MigrateResult } from '@tmb/core/store';
import { VerifierError } from '../errors.ts';
import { appendArchived, archivedAt, archivedFor } from './pg-archive.ts';
import {
  checkConnection,
  type PgPoolOptions,
  pgPool,
  redactUrl,
  type Sql,
  transaction,
} from './pg-connect.ts';
import { addKey, agentKeys, firstSeqs, getKey, receiptLockedTx } from './pg-keys.ts';
import { migratePg } from './pg-migrate.ts';
import { putReceiptsTx } from './pg-receipts.ts';
import { via } from './pg-route.ts';
import { PG_VERIFIER_MIGRATIONS } from './pg-schema.ts';
import { PgState } from './pg-state.ts';
import { firstRefusal, growTree, putRefusals, treeNodes, treeSize } from './pg-trees.ts';
import { keyRow, receiptRow } from './rows.ts';
import type {
  ArchivedAt,
  ArchivedQuoteIn,
  ArchivedRow,
  KeyRecord,
  LeafRecord,
  NodeRecord,
  NonceUse,
  ReceiptSession,
  Refusal,
  Store,
  StoredReceipt,
  VersionedAttest,
} from './types.ts';

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions extends PgPoolOptions {
  /** Called for each migration step applied while opening (the server logs it). Left out: silent. */
  onMigrated?: (step: { version: number; description: string }) => void;
}

/**
 * The verifier's store on PostgreSQL (the `postgres` client), for several verifier processes on
 * one database (docs/deploy.md "PostgreSQL"). The same semantics as SqliteStore, method for
 * method (the shared conformance suite, test/store/conformance.ts, runs both); its schema history
 * is PG_VERIFIER_MIGRATIONS, recorded in `tmb_schema`.
 */
export class PgStore implements Store {
  readonly #sql: Sql;
  readonly #state: PgState;
  /** The schema version found on opening and the version now (after migrations). */
  readonly schema: MigrateResult;

  private constructor(sql: Sql, schema: MigrateResult) {
    this.#sql = sql;
    this.#state = new PgState(sql);
    this.schema = schema;
  }

  /**
   * Connects (a bounded pool), checks the connection and migrates to the newest schema; two
   * processes opening one database at once apply each step once.
   * @throws VerifierError STORE_AUTH_FAILED | STORE_UNREACHABLE | STORE_FAILED (the URL's
   *   password never in the message)
   * @throws CoreError STORE_SCHEMA_TOO_NEW when a newer build wrote the database
   */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const sql = pgPool(url, options);
    try {
      await checkConnection(sql, url);
      const schema = await migratePg(sql, PG_VERIFIER_MIGRATIONS, {
        store: 'verifier',
        onApplied: options.onMigrated,
      });
      return new PgStore(sql, schema);
    } catch (cause) {
      await sql.end({ timeout: 5 });
      if (cause instanceof VerifierError) throw cause;
      if (cause instanceof CoreError && cause.code === 'STORE_SCHEMA_TOO_NEW') throw cause;
      throw new VerifierError('STORE_FAILED', `cannot open the store at ${redactUrl(url)}`, { cause });
    }
  }

  /** Where a statement goes: the pool, or the agent lock's transaction in a locked run (pg-route.ts). */
  get #q(): Sql {
    return via(this.#sql);
  }

  /** The pool, for a sibling on the same database (the telemetry store, tests). */
  get sql(): Sql {
    return this.#sql;
  }

  addKey(r: KeyRecord): Promise<boolean> {
    return addKey(this.#q, r);
  }

  getKey(keyId: string): Promise<KeyRecord | undefined> {
    return getKey(this.#q, keyId);
  }

  async listKeys(): Promise<KeyRecord[]> {
    const rows = await this.#q`SELECT * FROM agent_keys ORDER BY agent, enrolled_at, key_id`;
    return rows.map(keyRow);
  }

  agentKeys(agent: string): Promise<KeyRecord[]> {
    return agentKeys(this.#q, agent);
  }

  firstSeqs(agent: string): Promise<Map<string, number>> {
    return firstSeqs(this.#q, agent);
  }

  async allowAkReplacement(agent: string, at: number): Promise<void> {
    await this.#q`INSERT INTO ak_allowances (agent, allowed_at) VALUES (${agent}, ${at})
      ON CONFLICT (agent) DO UPDATE SET allowed_at = excluded.allowed_at`;
  }

  async takeAkAllowance(agent: string): Promise<boolean> {
    return (await this.#q`DELETE FROM ak_allowances WHERE agent = ${agent}`).count === 1;
  }

  async putReceipts(list: readonly StoredReceipt[]): Promise<('inserted' | 'seq-taken' | StoredReceipt)[]> {
    if (list.length === 0) return [];
    return transaction(this.#sql, (tx) => putReceiptsTx(tx, list));
  }

  receiptLocked<T>(lockKey: string, fn: (s: ReceiptSession) => Promise<T>): Promise<T> {
    return transaction(this.#sql, (tx) => receiptLockedTx(tx, lockKey, fn));
  }

  async getReceipt(id: string): Promise<StoredReceipt | undefined> {
    const [row] = await this.#q`SELECT * FROM receipts WHERE id = ${id}`;
    return row === undefined ? undefined : receiptRow(row);
  }

  async byRequestId(requestId: string, limit: number): Promise<StoredReceipt[]> {
    const rows = await this.#q`SELECT * FROM receipts WHERE request_id = ${requestId}
      ORDER BY received_at, id LIMIT ${limit}`;
    return rows.map(receiptRow);
  }

  async leaves(agent: string, from: number, limit: number): Promise<LeafRecord[]> {
    const rows = await this.#q`SELECT seq, hash FROM log_leaves WHERE agent = ${agent} AND seq >= ${from}
      ORDER BY seq LIMIT ${limit}`;
    return rows.map((r) => ({ seq: Number(r.seq), hash: new Uint8Array(r.hash as Uint8Array) }));
  }

  async getAttest(agent: string): Promise<string | undefined> {
    const [row] = await this.#q`SELECT state FROM attest_agents WHERE agent = ${agent}`;
    return row === undefined ? undefined : (row.state as string);
  }

  putAttest(agent: string, state: string): Promise<void> {
    return this.#state.putAttest(agent, state);
  }

  async getAttestRows(keys: readonly string[]): Promise<(string | undefined)[]> {
    const rows = await this.#q`SELECT agent, state FROM attest_agents
      WHERE agent = ANY(${this.#q.array([...keys])}::text[])`;
    const by = new Map(rows.map((r) => [r.agent as string, r.state as string]));
    return keys.map((k) => by.get(k));
  }

  async putAttestRows(rows: readonly (readonly [string, string])[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(([agent, state]) => ({ agent, state }));
    await this.#q`INSERT INTO attest_agents ${this.#q(values, 'agent', 'state')}
      ON CONFLICT (agent) DO UPDATE SET state = excluded.state, version = attest_agents.version + 1`;
  }

  logTreeSize(agent: string, run: number, base: number): Promise<number> {
    return treeSize(this.#q, agent, run, base);
  }

  logNodes(
    agent: string,
    run: number,
    base: number,
    at: readonly { level: number; index: number }[],
  ): Promise<(Uint8Array | undefined)[]> {
    return treeNodes(this.#q, agent, run, base, at);
  }

  growLogTree(agent: string, run: number, base: number, size: number, nodes: readonly NodeRecord[]) {
    // On the pool even in a locked run: Trees keeps the tree's edge in memory as written, which a
    // rollback of the run's transaction would leave ahead of the database.
    return growTree(this.#sql, agent, run, base, size, nodes);
  }

  putRefusals(agent: string, list: readonly Refusal[]): Promise<void> {
    return putRefusals(this.#q, agent, list);
  }

  firstRefusal(agent: string, from: number, to: number): Promise<Refusal | undefined> {
    return firstRefusal(this.#q, agent, from, to);
  }

  issueNonce(agent: string, nonce: string, expiresAt: number, now: number, perAgent: number) {
    return this.#state.issueNonce(agent, nonce, expiresAt, now, perAgent);
  }

  consumeNonce(agent: string, nonce: string, now: number): Promise<NonceUse> {
    return this.#state.consumeNonce(agent, nonce, now);
  }

  putPendingAk(agent: string, state: string, expiresAt: number): Promise<void> {
    return this.#state.putPendingAk(agent, state, expiresAt);
  }

  takePendingAk(agent: string, now: number): Promise<string | undefined> {
    return this.#state.takePendingAk(agent, now);
  }

  hasPendingAk(agent: string, now: number): Promise<boolean> {
    return this.#state.hasPendingAk(agent, now);
  }

  readAttest(key: string, known?: number): Promise<VersionedAttest | undefined> {
    return this.#state.readAttest(key, known);
  }

  putAttestIf(key: string, state: string, version: number): Promise<number | undefined> {
    return this.#state.putAttestIf(key, state, version);
  }

  storedReceipts(ids: readonly string[]): Promise<Set<string>> {
    return this.#state.storedReceipts(ids);
  }

  appendArchived(agent: string, q: ArchivedQuoteIn, keepBoots: number) {
    return appendArchived(this.#q, agent, q, keepBoots);
  }

  archivedFor(agent: string, seq: number): Promise<ArchivedRow[]> {
    return archivedFor(this.#q, agent, seq);
  }

  archivedAt(agent: string, seq: number): Promise<ArchivedAt> {
    return archivedAt(this.#q, agent, seq);
  }

  /** Ends the pool: waits up to 5 s for queries in flight, then closes the connections. */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
