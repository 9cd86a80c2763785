/**
 * Long-poll bookkeeping: GETs waiting for a receipt id that has not been pushed yet.
 * Each waiter is woken when the id is stored, when its own time runs out, or at close.
 */
export class Waiters {
  readonly #byId = new Map<string, Set<() => void>>();
  #count = 0;

  /** Resolves `true` when `id` is announced within `ms`, `false` on timeout, abort or close. */
  wait(id: string, ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve(false);
        return;
      }
      let set = this.#byId.get(id);
      if (set === undefined) {
        set = new Set();
        this.#byId.set(id, set);
      }
      const s = set;
      const done = (found: boolean) => {
        if (!s.has(wake)) return;
        this.#count--;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        s.delete(wake);
        if (s.size === 0 && this.#byId.get(id) === s) this.#byId.delete(id);
        resolve(found);
      };
      const wake = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      s.add(wake);
      this.#count++;
    });
  }

  /** Wakes everyone waiting for `id`. */
  announce(id: string): void {
    const set = this.#byId.get(id);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }

  /** Number of pending waits (for tests and shutdown). */
  get size(): number {
    return this.#count;
  }
}
