import type { GpuSample } from './sample.ts';

/**
 * The recent samples of one GPU in time order, bounded: the oldest are dropped past
 * `capacity` (default 36,000: one hour at 10 Hz). Requests' windows are cut from it.
 */
export class SampleBuffer {
  readonly #cap: number;
  #items: GpuSample[] = [];

  constructor(capacity = 36_000) {
    this.#cap = capacity;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Appends a sample; one older than the newest is ignored (the parser already drops those). */
  push(s: GpuSample): void {
    const last = this.#items.at(-1);
    if (last !== undefined && s.t < last.t) return;
    this.#items.push(s);
    // Trim in chunks so pushing stays O(1) amortized.
    if (this.#items.length > this.#cap * 1.25)
      this.#items = this.#items.slice(this.#items.length - this.#cap);
  }

  /**
   * The samples covering [start, end]: every sample inside, plus the last one before `start`
   * and the first one after `end`, so the window's edges can be interpolated.
   */
  window(start: number, end: number): GpuSample[] {
    const xs = this.#items;
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid]!.t < start) lo = mid + 1;
      else hi = mid;
    }
    const from = Math.max(0, lo - 1);
    let to = lo;
    while (to < xs.length && xs[to]!.t <= end) to++;
    return xs.slice(from, Math.min(xs.length, to + 1));
  }
}
