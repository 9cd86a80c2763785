/** Options of {@link Waiters}. */
export interface WaitersOptions {
  /**
   * Which of `ids` are stored now (the store's storedReceipts): the fallback for a receipt
   * pushed to another verifier process on the same database, which cannot announce it here.
   * Left out: only local announcements wake a waiter (one process alone on its store).
   */
  poll?: (ids: readonly string[]) => Promise<Set<string>>;
  /** Delay before an id's first poll, ms; doubled after each miss. Default 50. */
  minPollMs?: number;
  /** Most delay between two polls of one id, ms. Default 1,000: a receipt stored at another
   * process is seen at most about a second late, never missed. */
  maxPollMs?: number;
}

interface Waiting {
  wakers: Set<() => void>;
  /** When this id is polled next (Date.now ms), and the delay after that. */
  due: number;
  step: number;
}

/** Most ids one poll asks the store about (the rest wait for the next round). */
const POLL_BATCH = 1_000;

/**
 * Long-poll bookkeeping: GETs waiting for a receipt id that has not been pushed yet.
 * Each waiter is woken when the id is stored, when its own time runs out, or at close.
 * A push to this process wakes its waiters at once (announce); a push to another process on the
 * same store is found by polling (options.poll): one timer for all waiters, one batched store
 * query per round for the ids that are due, each id's delay doubling from minPollMs to maxPollMs.
 */
export class Waiters {
  readonly #byId = new Map<string, Waiting>();
  readonly #listeners: ((id: string) => void)[] = [];
  readonly #poll: WaitersOptions['poll'];
  readonly #min: number;
  readonly #max: number;
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires (Date.now ms). */
  #timerAt = Number.POSITIVE_INFINITY;
  #polling = false;

  constructor(o: WaitersOptions = {}) {
    this.#poll = o.poll;
    this.#min = o.minPollMs ?? 50;
    this.#max = Math.max(this.#min, o.maxPollMs ?? 1_000);
  }

  /** Resolves `true` when `id` is announced within `ms`, `false` on timeout, abort or close. */
  wait(id: string, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve(false);
        return;
      }
      let w = this.#byId.get(id);
      if (w === undefined) {
        w = { wakers: new Set(), due: Date.now() + this.#min, step: this.#min };
        this.#byId.set(id, w);
      }
      const s = w.wakers;
      const done = (found: boolean) => {
        if (!s.has(wake)) return;
        this.#count--;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        s.delete(wake);
        if (s.size === 0 && this.#byId.get(id)?.wakers === s) this.#byId.delete(id);
        if (this.#count === 0) this.#stop();
        resolve(found);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      s.add(wake);
      this.#count++;
      this.#arm(this.#byId.get(id)!.due);
    });
  }

  /**
   * A receipt this process stored (receipt/push.ts calls it once per stored receipt): tells the
   * listeners (onStored), then wakes everyone waiting for `id`.
   */
  announce(id: string): void {
    for (const fn of this.#listeners) fn(id);
    this.#wake(id);
  }

  /**
   * Calls `fn` with the id of every receipt this process stores from now on (the dashboard's
   * live feed). Receipts another process stored, found by polling, are not told: they only wake
   * this process's waiters. `fn` must not throw.
   */
  onStored(fn: (id: string) => void): void {
    this.#listeners.push(fn);
  }

  /** Wakes everyone waiting for `id`. */
  #wake(id: string): void {
    const w = this.#byId.get(id);
    if (w === undefined) return;
    for (const wake of [...w.wakers]) wake();
  }

  /** Number of pending waits (for tests and shutdown). */
  get size(): number {
    return this.#count;
  }

  /** Ids waited for now (for tests: bounded by the waits, never grows past them). */
  get ids(): number {
    return this.#byId.size;
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Arms the one poll timer for `at`, unless a poll is running or the timer fires earlier. */
  #arm(at: number): void {
    if (this.#poll === undefined || this.#polling || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#round(), Math.max(0, at - Date.now()));
    this.#timer.unref(); // the waiting requests keep the process up, not this timer
  }

  /** Arms the timer for the earliest due id (after a round: O(ids waited for)). */
  #schedule(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const w of this.#byId.values()) next = Math.min(next, w.due);
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }

  async #round(): Promise<void> {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const due = [...this.#byId].filter(([, w]) => w.due <= now).slice(0, POLL_BATCH);
    this.#polling = true;
    try {
      const found = due.length === 0 ? new Set<string>() : await this.#poll!(due.map(([id]) => id));
      for (const [id, w] of due) {
        if (found.has(id)) this.#wake(id);
        w.step = Math.min(w.step * 2, this.#max);
        w.due = Date.now() + w.step;
      }
    } catch {
      // A store error delays the cross-process wake-up only: each waiter still ends by its time.
      for (const [, w] of due) w.due = Date.now() + this.#max;
    } finally {
      this.#polling = false;
      this.#schedule();
    }
  }
}
