import { createHash } from 'node:crypto';
import type { SampleVariant } from './options.ts';

// Deterministic "generation" for the SAMPLE server: every byte of an answer is a function of the
// request, so a test can send the same request twice and compare, and the demo is reproducible.

const HONEST_WORDS = (
  'attestation receipt verifier measurement evidence quote signature digest weights engine ' +
  'telemetry checkpoint inclusion consistency policy enrolment appraisal boundary hardware ' +
  'provenance request response stream latency throughput model inference accelerator tensor ' +
  'kernel register platform integrity assurance audit ledger nonce freshness binding chain'
).split(' ');
const CHEAP_WORDS = 'ok sure yes fine so it is the a good thing done'.split(' ');

/** SHA-256 of the UTF-8 of `text`. */
export function hashOf(...parts: string[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest();
}

/** A small fast PRNG (sfc32) seeded from the first 16 bytes of a hash. */
export function prng(seed: Uint8Array): () => number {
  const v = new DataView(seed.buffer, seed.byteOffset, 16);
  let a = v.getUint32(0);
  let b = v.getUint32(4);
  let c = v.getUint32(8);
  let d = v.getUint32(12);
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
}

/** How many tokens the variant "wants" to say before it stops by itself. */
export function naturalLength(seed: Uint8Array, variant: SampleVariant): number {
  const r = new DataView(seed.buffer, seed.byteOffset + 16, 4).getUint32(0);
  return variant === 'cheap' ? 8 + (r % 9) : 24 + (r % 41);
}

/**
 * The first `count` tokens of the variant's answer for `seed`. Each token is a word with its
 * leading space (none on the first) and sometimes a full stop; joined they read as sentences.
 */
export function generateTokens(seed: Uint8Array, variant: SampleVariant, count: number): string[] {
  const words = variant === 'cheap' ? CHEAP_WORDS : HONEST_WORDS;
  const next = prng(seed);
  const out: string[] = new Array(count);
  let capital = true;
  for (let i = 0; i < count; i++) {
    const r = next();
    let word = words[r % words.length]!;
    if (capital) word = word[0]!.toUpperCase() + word.slice(1);
    const stop = i === count - 1 || (r >>> 24) % 8 === 0;
    out[i] = (i === 0 ? '' : ' ') + word + (stop ? '.' : '');
    capital = stop;
  }
  return out;
}

/** A rough token count (4 UTF-8 bytes a token, at least 1), the same for every variant. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(Buffer.byteLength(text, 'utf8') / 4));
}

/**
 * Deterministic stand-ins for the fields a real server fills from a clock and a random source:
 * an id `prefix-<24 hex>` and a `created` time in 2025, both from the raw request bytes.
 */
export function responseIdentity(
  prefix: string,
  variant: SampleVariant,
  body: Uint8Array,
): { id: string; created: number } {
  const h = createHash('sha256').update(variant).update('\0').update(body).digest();
  return {
    id: `${prefix}-${h.subarray(0, 12).toString('hex')}`,
    created: 1_735_689_600 + (h.readUInt32BE(12) % 31_536_000),
  };
}

/**
 * A unit-length vector of `dims` float32 values for one embedding input, deterministic in the
 * model, variant and input.
 */
export function embeddingVector(
  model: string,
  variant: SampleVariant,
  input: string,
  dims: number,
): number[] {
  const next = prng(hashOf('embedding', model, variant, input));
  const v = new Array<number>(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const x = next() / 0x80000000 - 1;
    v[i] = x;
    norm += x * x;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  // Rounded to float32 so the JSON floats and the base64 float32 encoding carry the same values.
  for (let i = 0; i < dims; i++) v[i] = Math.fround(v[i]! * scale);
  return v;
}
