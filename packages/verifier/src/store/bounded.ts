/**
 * A Map that holds at most `cap` entries: setting a new key past the cap drops the entry used
 * least recently (a read moves its entry to the end; a Map keeps insertion order, so the first
 * entry is the one to drop). For caches of rows that other verifier processes may read too:
 * a dropped entry is only read again from the store.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly cap: number;

  constructor(cap: number) {
    super();
    if (!Number.isSafeInteger(cap) || cap < 1) throw new RangeError('cap must be a positive integer');
    this.cap = cap;
  }

  override get(key: K): V | undefined {
    if (!super.has(key)) return undefined;
    const v = super.get(key) as V;
    super.delete(key);
    super.set(key, v);
    return v;
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > this.cap) super.delete(super.keys().next().value as K);
    return this;
  }
}
