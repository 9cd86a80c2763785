import { VerifierError } from '../errors.ts';
import { BoundedMap } from './bounded.ts';
import type { Store } from './types.ts';

/** Compare-and-set attempts of one update before giving up (each loses only to another write). */
const MAX_ATTEMPTS = 8;

/**
 * JSON rows of the store's attestation table (getAttest/putAttest keys such as `host <agent>`)
 * cached in memory and kept correct with other verifier processes on the same database: every
 * read asks the store for the row's version (readAttest: one round trip, the text only when it
 * changed), and every update is a compare-and-set on that version (putAttestIf), re-read and
 * re-applied when another writer got there first. So a cached copy is never used once another
 * process wrote the row, and no update folds from a stale base. At most `cap` rows are held.
 */
export class VersionedRows<T> {
  readonly #store: Store;
  readonly #empty: () => T;
  readonly #cache: BoundedMap<string, { version: number; value: T }>;

  /** `empty`: the value of a key with no row. `cap`: rows held in memory (default 10,000). */
  constructor(store: Store, empty: () => T, cap = 10_000) {
    this.#store = store;
    this.#empty = empty;
    this.#cache = new BoundedMap(cap);
  }

  /** Rows held in memory now (at most the cap). */
  get held(): number {
    return this.#cache.size;
  }

  /** The row's current value (parsed JSON), or `empty()` when there is none. */
  async get(key: string): Promise<T> {
    return (await this.#read(key)).value;
  }

  /**
   * Applies `f` to the row's current value and writes the result unless another writer changed
   * the row in between; then reads it again and applies `f` again (at most 8 times). The first
   * attempt applies `f` to the copy held in memory, if any, without reading the row: a stale copy
   * only costs a refused write.
   * `f` must be a pure function of its argument. Returns the value written.
   * @throws VerifierError STORE_FAILED when every attempt lost a race
   */
  async update(key: string, f: (value: T) => T): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // First from the copy held, unread (one round trip fewer): the compare-and-set refuses it
      // when another writer moved the row since, and the next attempt reads the row.
      const held = attempt === 0 ? this.#cache.get(key) : undefined;
      const { version, value } = held ?? (await this.#read(key));
      const next = f(value);
      const written = await this.#store.putAttestIf(key, JSON.stringify(next), version);
      if (written !== undefined) {
        this.#cache.set(key, { version: written, value: next });
        return next;
      }
    }
    throw new VerifierError(
      'STORE_FAILED',
      `row ${JSON.stringify(key)} changed under ${MAX_ATTEMPTS} updates in a row`,
    );
  }

  async #read(key: string): Promise<{ version: number; value: T }> {
    const held = this.#cache.get(key);
    const row = await this.#store.readAttest(key, held?.version);
    if (row === undefined) {
      this.#cache.delete(key);
      return { version: 0, value: this.#empty() };
    }
    if (row.state === undefined && held !== undefined) return held;
    const value = JSON.parse(row.state ?? 'null') as T;
    this.#cache.set(key, { version: row.version, value });
    return { version: row.version, value };
  }
}
