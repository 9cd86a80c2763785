/**
 * A map of at most `max` entries that drops the least recently used one when full (a Map keeps
 * insertion order: a hit is moved to the end). For caches that change no answer, only how fast
 * one comes: built public keys, notes already verified under a key.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  readonly max: number;

  constructor(max: number) {
    if (!(Number.isInteger(max) && max > 0)) throw new RangeError('Lru max must be a positive integer');
    this.max = max;
  }

  /** The value at `key`, now the most recently used, or undefined. */
  get(key: K): V | undefined {
    const hit = this.#map.get(key);
    if (hit !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, hit);
    }
    return hit;
  }

  /** Keeps `value` at `key` as the most recently used, dropping the least recently used when full. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.max) {
      const oldest = this.#map.keys().next();
      if (oldest.done !== true) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
  }

  /** The value at `key`, built by `build` on a miss and kept; a build that throws keeps nothing. */
  getOrBuild(key: K, build: () => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const value = build();
    this.set(key, value);
    return value;
  }

  /** Drops `key`'s entry, if any. */
  delete(key: K): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }
}
