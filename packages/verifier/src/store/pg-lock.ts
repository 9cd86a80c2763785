import { createHash } from 'node:crypto';
import { VerifierError } from '../errors.ts';
import { type AgentLock, KeyedLock } from '../lock.ts';
import { isConnectionLost, never, type Sql } from './pg-connect.ts';

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
 * the store's: `fn` uses the store's pool, so however many agents hold the lock, their work still
 * gets store connections (a lock taken from the store's pool would deadlock once every
 * connection held a lock and waited for another to run its queries). When `fn` throws, or the
 * connection drops (the process dies, the network goes), the transaction ends and PostgreSQL
 * releases the lock: nothing is left held. Two agents whose keys collide (1 in 2^64) only wait
 * for each other.
 *
 * The wait for the lock is bounded by the lock pool's statement timeout; a run that cannot get
 * it rejects (STORE_FAILED at the route). Not re-entrant, as KeyedLock.
 */
export class PgAgentLock implements AgentLock {
  readonly #local = new KeyedLock();
  readonly #sql: Sql;

  /** `sql`: a pool for this lock only (open.ts makes it; its size bounds agents locked at once). */
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  /** Runs with an agent's lock held (keys with queued or running work in this process). */
  get size(): number {
    return this.#local.size;
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
    const done = this.#sql.begin(async (tx) => {
      try {
        await tx`SELECT pg_advisory_xact_lock(${k}::bigint)`;
      } catch (err) {
        if (isConnectionLost(err)) return never<{ value: T }>(); // see below: write nothing more
        throw err;
      }
      work = Promise.resolve().then(fn);
      const settled = await work.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      // The lock's connection dropped while fn ran: the server ended the transaction and freed
      // the lock, and begin() has rejected. Nothing more is written on that connection (a
      // COMMIT or ROLLBACK there crashes postgres.js 3.4.9: pg-connect.ts transaction()).
      if (lost) return never<{ value: T }>();
      if ('error' in settled) throw settled.error;
      return settled;
    });
    try {
      return (await done).value as T;
    } catch (err) {
      lost = true;
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
