import { intervalEnergy, lastAtOrBefore, overlap } from './energy.ts';
import type { RequestSpan, Sample } from './types.ts';

/** Energy attributed to one request. */
export interface Attribution {
  energyJ: number;
  /** True when every interval used for this request had an energy-counter reading. */
  fromCounter: boolean;
  /** False when the samples do not cover the request's window, or an interval had no reading. */
  covered: boolean;
}

/**
 * Splits measured GPU energy among requests that overlap in time. The method:
 *
 * 1. Cut the timeline at the samples; each interval between two samples has a measured energy
 *    (intervalEnergy: counter delta, else trapezoid of power).
 * 2. The part of an interval that some request covers is attributable: the interval's energy
 *    times the largest fraction of it any one request covers. (Idle time outside every request
 *    is not charged. Using the largest single coverage rather than the union errs low only when
 *    two requests touch the same interval without overlapping each other, at most one sample
 *    period per request boundary.)
 * 3. The attributable energy is split among the requests active in the interval in proportion
 *    to the tokens each generated in it, taking each request's tokens as produced at a uniform
 *    rate between its first token and its end. When no active request generated tokens in the
 *    interval (all in prefill), it is split in proportion to time covered.
 *
 * Prefill energy spent while another request decodes goes to the decoding request. That bias
 * is the same when profiles are fitted and when requests are scored, because both use this
 * function, and a profile holds only for its concurrency bucket.
 */
export function attributeEnergy(
  samples: readonly Sample[],
  spans: readonly RequestSpan[],
): Map<string, Attribution> {
  const { energy, fromCounter } = intervalEnergy(samples);
  const nI = energy.length;
  const tokenW = new Float64Array(nI);
  const timeW = new Float64Array(nI);
  const cover = new Float64Array(nI);
  const out = new Map<string, Attribution>();
  const ranges: [number, number][] = [];
  for (const s of spans) {
    const first = Math.max(0, lastAtOrBefore(samples, s.start));
    const last = Math.min(nI - 1, lastAtOrBefore(samples, s.end));
    ranges.push([first, last]);
    const d0 = s.firstToken ?? s.start;
    const decodeMs = s.end - d0;
    for (let i = first; i <= last; i++) {
      const a = samples[i]!.t;
      const b = samples[i + 1]!.t;
      const len = b - a;
      const ov = overlap(a, b, s.start, s.end);
      if (len <= 0 || ov <= 0) continue;
      cover[i] = Math.max(cover[i]!, ov / len);
      timeW[i] += ov;
      if (decodeMs > 0) tokenW[i] += (s.outputTokens * overlap(a, b, d0, s.end)) / decodeMs;
    }
  }
  spans.forEach((s, k) => {
    const [first, last] = ranges[k]!;
    const d0 = s.firstToken ?? s.start;
    const decodeMs = s.end - d0;
    const coveredWindow = samples.length >= 2 && samples[0]!.t <= s.start && samples.at(-1)!.t >= s.end;
    let e = 0;
    let counter = true;
    let covered = coveredWindow;
    for (let i = first; i <= last; i++) {
      const a = samples[i]!.t;
      const b = samples[i + 1]!.t;
      const ov = overlap(a, b, s.start, s.end);
      if (b - a <= 0 || ov <= 0) continue;
      const tok = decodeMs > 0 ? (s.outputTokens * overlap(a, b, d0, s.end)) / decodeMs : 0;
      const share = tokenW[i]! > 0 ? tok / tokenW[i]! : ov / timeW[i]!;
      const ei = energy[i]!;
      if (Number.isNaN(ei)) covered = false;
      else e += ei * cover[i]! * share;
      if (!fromCounter[i]) counter = false;
    }
    out.set(s.id, { energyJ: e, fromCounter: counter, covered });
  });
  return out;
}
