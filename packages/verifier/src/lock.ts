/**
 * Runs work alone per agent name. {@link KeyedLock} within one process (the SQLite store);
 * `PgAgentLock` (store/pg-lock.ts) across every process on one PostgreSQL database.
 */
export interface AgentLock {
  /** Runs `fn` alone for `key`; resolves or rejects as `fn` does. Not re-entrant. */
  run<T>(key: string, fn: () => Promise<T> | T): Promise<T>;
  /**
   * The in-process part of a lock that also locks across processes (PgAgentLock): work whose
   * store takes the cross-process part in its own transaction (Store.receiptLocked) queues here.
   * Absent: `run` is in-process only.
   */
  readonly local?: AgentLock;
  /**
   * True when a run's store writes are seen by others only once the run ends, together
   * (PgAgentLock given the store's pool: they commit with the lock's transaction), except those
   * the store commits as it makes them, which are then seen first whatever their order in the run
   * (PgStore: compare-and-set rows, putAttestIf, and tree growth). Absent: each write is seen as
   * it is made, and a run orders them for its readers.
   */
  readonly atomic?: boolean;
}

/**
 * The lock key of `agent`'s receipt log positions (agent names have no spaces, so it is no
 * agent's name): receipt pushes and receipt-key enrolments take it (receipt/push.ts, keys.ts),
 * evidence, AK activation and checkpoint-key certification take the agent's name. The two never
 * need each other: a push reads and writes only receipts, leaves, key runs, refusals and keys,
 * which evidence only reads, and a leaf once stored never changes (a position holds one receipt):
 * an appraisal that reads a leaf pushed meanwhile sees the log as a later appraisal would. So a
 * push never waits for an appraisal of its agent (docs/deploy.md, "Several processes"). On
 * PostgreSQL a push or enrolment takes it in its own store transaction (Store.receiptLocked,
 * receipt/keys.ts receiptLocked): a holder needs no second connection, so waiting for it while
 * holding one of the store's connections cannot starve the pool.
 */
export const receiptLockKey = (agent: string): string => `receipts ${agent}`;

/**
 * Serialises work per key: `run(key, fn)` starts `fn` once every earlier `run` of the same key
 * has settled, in call order (FIFO); runs of different keys do not wait for each other. The
 * verifier takes it per agent name around every load-appraise-save of an agent's state, so two
 * requests of one agent never both start from the same stored state and the later save erase
 * the earlier (a lost update: an accepted quote forgotten, a certified key dropped).
 *
 * Memory: one entry per key with work queued or running, removed when its last run settles, so
 * the map never holds idle keys (agent names are bounded by tokens anyway). A run that throws
 * releases the key like one that returns. Not re-entrant: `fn` must not take the same key again
 * (it would wait for itself).
 */
export class KeyedLock implements AgentLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Keys with a run queued or in progress (0 when idle). */
  get size(): number {
    return this.#tails.size;
  }

  /** Runs `fn` alone for `key`; resolves or rejects as `fn` does. */
  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => done);
    this.#tails.set(key, tail);
    return before.then(async () => {
      try {
        return await fn();
      } finally {
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
        release();
      }
    });
  }
}
