// A set of SHA-256 digests held in one Uint32Array: open addressing, linear probing, each slot
// the digest's 8 words. Why not a Set<string>: the fold looks up one digest per kernel entry,
// each a new one, in a set of up to a policy's size (300,000); a Set of strings costs three
// cache misses a lookup (table, entry, key string) and a heap object a digest, this one miss
// in a flat array. Measured on the 2-core dev box (foldKernelColumns over 1,000-entry deltas,
// each once, 61,000-digest set): 0.49 ms a delta with a Set<string>, 0.23 ms with this.
// Digests are SHA-256 outputs, so their first word is already a uniform hash.

/** A fixed-capacity set of 32-byte digests given as latin1 strings (hashing.ts, hashLatin1). */
export class DigestSet {
  readonly #slots: Uint32Array;
  readonly #mask: number;
  #zero = false;
  #size = 0;

  /** A set for at most `capacity` digests (the table is kept at most half full). */
  constructor(capacity: number) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.#slots = new Uint32Array(n * 8);
    this.#mask = n - 1;
  }

  /** Digests held. */
  get size(): number {
    return this.#size;
  }

  /** Adds a 32-character latin1 digest; other lengths are ignored (never held). */
  add(d: string): void {
    if (d.length !== 32) return;
    const at = this.#find(d);
    if (at === -2) {
      if (!this.#zero) this.#size++;
      this.#zero = true;
      return;
    }
    if (at >= 0) return;
    if (2 * (this.#size + 1) > this.#mask + 1) throw new Error('DigestSet is full');
    const s = this.#slots;
    const slot = -at - 3;
    for (let k = 0; k < 8; k++) s[slot * 8 + k] = word(d, k);
    this.#size++;
  }

  /** Whether the set holds `d`. */
  has(d: string): boolean {
    if (d.length !== 32) return false;
    const at = this.#find(d);
    return at === -2 ? this.#zero : at >= 0;
  }

  /** The slot holding d (>= 0); -2 for the all-zero digest (kept apart: zero marks empty); else -(3 + the empty slot to use). */
  #find(d: string): number {
    const w0 = word(d, 0);
    const w1 = word(d, 1);
    const w2 = word(d, 2);
    const w3 = word(d, 3);
    const w4 = word(d, 4);
    const w5 = word(d, 5);
    const w6 = word(d, 6);
    const w7 = word(d, 7);
    if ((w0 | w1 | w2 | w3 | w4 | w5 | w6 | w7) === 0) return -2;
    const s = this.#slots;
    const mask = this.#mask;
    for (let i = w0 & mask; ; i = (i + 1) & mask) {
      const b = i * 8;
      const a0 = s[b]!;
      const a1 = s[b + 1]!;
      if (a0 === w0 && a1 === w1 && s[b + 2] === w2 && s[b + 3] === w3) {
        if (s[b + 4] === w4 && s[b + 5] === w5 && s[b + 6] === w6 && s[b + 7] === w7) return i;
      }
      if ((a0 | a1 | s[b + 2]! | s[b + 3]! | s[b + 4]! | s[b + 5]! | s[b + 6]! | s[b + 7]!) === 0)
        return -3 - i;
    }
  }
}

/** Word k of a latin1 digest, little-endian, unsigned (as a Uint32Array holds it). */
function word(d: string, k: number): number {
  const i = 4 * k;
  return (
    (d.charCodeAt(i) |
      (d.charCodeAt(i + 1) << 8) |
      (d.charCodeAt(i + 2) << 16) |
      (d.charCodeAt(i + 3) << 24)) >>>
    0
  );
}
