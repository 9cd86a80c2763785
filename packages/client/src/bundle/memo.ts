/**
 * What a memo's values are shared by: `host` (an agent start's keys, EK chain, certified
 * checkpoint key, the verifier's reference values) or `quote` (the checks of one quote, its
 * checkpoint and logs, shared by every receipt it judged, as in a batch).
 */
export type MemoScope = 'host' | 'quote';

const all: { scope: MemoScope; clear(): void }[] = [];

/**
 * A small map of values derived purely from the exact input (a parsed public area, a compiled
 * policy, the checks of a quote over exact bytes), bounded to `max` entries, oldest dropped
 * first. Keys are the full inputs, never digests of a part of them. Receipts of one host, and
 * of one quote, share these, so a batch derives each once (bench/bundle.bench.ts measures both).
 */
export class Memo<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  readonly scope: MemoScope;

  constructor(max: number, scope: MemoScope = 'host') {
    this.#max = max;
    this.scope = scope;
    all.push({ scope, clear: () => this.#map.clear() });
  }

  /** The value for `key`, made by `make` when absent (a throw is not cached). */
  get(key: string, make: () => V): V {
    const hit = this.#map.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(key, v);
    return v;
  }
}

/** Forgets every memo of `scope` (both when left out): for benchmarks of the first bundle of a host or quote. */
export function clearBundleMemos(scope?: MemoScope): void {
  for (const m of all) if (scope === undefined || m.scope === scope) m.clear();
}
