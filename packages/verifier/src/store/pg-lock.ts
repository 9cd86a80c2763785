import { createHash } from 'node:crypto';
import { VerifierError } from '../errors.ts';
import { type AgentLock, KeyedLock } from '../lock.ts';
import { isConnectionLost, never, type Sql } from './pg-connect.ts';
import { openRoute, type RouteHandle } from './pg-route.ts';

/** The advisory lock key of an agent name: the first 8 bytes of a SHA-256, as a signed int8. */
export function agentLockKey(agent: string): string {
  const digest = createHash('sha256').update('tmb-agent-lock\0').update(agent).digest();
  return digest.readBigInt64BE(0).toString();
}

/**
 * The per-agent lock of verifier processes sharing one PostgreSQL database: first the process's
 * own KeyedLock (so one process queues its runs of an agent locally, holding one connection at
 * most per agent), then a transaction-scoped advisory lock (`pg_advisory_xact_lock`) on a key
 * derived from the agent name, held while `fn` runs.
 *
 * The advisory lock lives in a transaction on a connection of the lock's OWN pool (`sql`), never
 * the store's. Given the store's pool (`store`), the store's statements `fn` makes go into that
 * same transaction, after the lock (pg-route.ts): the work under the lock needs no second
 * connection, statements it issues together go out in one write, and it commits once, with the
 * lock's end. Work that is not routed (another pool, a store transaction of its own) still gets
 * store connections however many agents are locked (a lock taken from the store's pool would
 * deadlock once every connection held a lock and waited for another to run its queries). When
 * `fn` throws, or the connection drops (the process dies, the network goes), the transaction
 * ends, its routed writes are rolled back and PostgreSQL releases the lock: nothing is left held
 * or half written. Two agents whose keys collide (1 in 2^64) only wait for each other.
 *
 * Routed, `fn` starts while the lock statement is on its way: what it can do before its first
 * statement answers is in-process only (this process's runs of the agent are queued by KeyedLock
 * already), and every routed statement runs after the lock, in its transaction; so across
 * processes `fn` reads and writes the database alone for the agent, and one round trip is saved.
 * Not routed, `fn` starts once the lock is granted.
 *
 * The wait for the lock, and each routed statement, is bounded by the lock pool's statement
 * timeout; a run that cannot get it rejects (STORE_FAILED at the route). Not re-entrant, as KeyedLock.
 */
export class PgAgentLock implements AgentLock {
  readonly #local = new KeyedLock();
  readonly #sql: Sql;
  readonly #store: Sql | undefined;

  /**
   * `sql`: a pool for this lock only (open.ts makes it; its size bounds agents locked at once).
   * `store`: the store's pool, whose statements in a run go into the lock's transaction; left
   * out, they stay on their pool (the run only holds the lock).
   */
  constructor(sql: Sql, store?: Sql) {
    this.#sql = sql;
    this.#store = store;
  }

  /** Runs with an agent's lock held (keys with queued or running work in this process). */
  get size(): number {
    return this.#local.size;
  }

  /** Given the store's pool, the run's store writes commit together (AgentLock.atomic). */
  get atomic(): boolean {
    return this.#store !== undefined;
  }

  /** This process's queue per key, without the advisory lock (PgStore.receiptLocked takes it). */
  get local(): AgentLock {
    return this.#local;
  }

  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    return this.#local.run(key, () => this.#held(agentLockKey(key), fn));
  }

  async #held<T>(k: string, fn: () => Promise<T> | T): Promise<T> {
    let lost = false;
    let work: Promise<T> | undefined;
    let route: RouteHandle | undefined;
    const done = this.#sql.begin(async (tx) => {
      // Routed, fn starts as the lock statement is sent: its statements queue behind it on this
      // connection (one write with it) and the server runs them once the lock is granted; if it
      // is not, the transaction is aborted and they fail. Not routed, fn waits for the lock.
      const locked = tx`SELECT pg_advisory_xact_lock(${k}::bigint)`.execute();
      if (this.#store !== undefined) {
        route = openRoute(this.#store, tx);
        work = route.run(fn);
      }
      const refused = await locked.then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
      if (refused !== undefined) {
        route?.lost(); // fn's later statements are refused: none runs without the lock
        await work?.catch(() => {});
        if (isConnectionLost(refused.err)) return never<{ value: T }>(); // see below: write nothing more
        throw refused.err;
      }
      if (lost) return never<{ value: T }>();
      work ??= Promise.resolve().then(fn);
      const settled = await work.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      route?.close();
      // The lock's connection dropped while fn ran: the server ended the transaction and freed
      // the lock, and begin() has rejected. Nothing more is written on that connection (a
      // COMMIT or ROLLBACK there crashes postgres.js 3.4.9: pg-connect.ts transaction()).
      if (lost || route?.isLost) return never<{ value: T }>();
      if ('error' in settled) {
        if (route !== undefined && isConnectionLost(settled.error)) return never<{ value: T }>();
        throw settled.error;
      }
      return settled;
    });
    try {
      return (await done).value as T;
    } catch (err) {
      lost = true;
      route?.lost();
      if (!isConnectionLost(err)) throw err;
      throw new VerifierError('STORE_FAILED', 'the per-agent lock connection to PostgreSQL was lost', {
        cause: err,
      });
    } finally {
      // This process's next run of the agent waits for fn even when the lock went early.
      await work?.catch(() => {});
    }
  }

  /** Ends the lock's pool (waits up to 5 s for runs in flight). */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
