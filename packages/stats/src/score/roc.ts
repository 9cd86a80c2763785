import { StatsError } from '../errors.ts';

/**
 * Scores here are oriented so that higher means more suspicious (for example the negative
 * log-likelihood under the claimed profile, or the log-likelihood ratio for a substitute).
 * `negatives` are scores of honest requests, `positives` of substitutes.
 */

function sorted(xs: ArrayLike<number>, what: string): Float64Array {
  if (xs.length === 0) throw new StatsError('STATS_TOO_FEW_SAMPLES', `${what}: no scores`);
  const s = Float64Array.from(xs);
  for (const x of s) if (Number.isNaN(x)) throw new StatsError('STATS_NOT_FINITE', `${what}: a score is NaN`);
  return s.sort();
}

/**
 * The threshold for a stated false-positive rate: the smallest t such that at most
 * ⌊fpr·n⌋ of the held-out honest scores are above t. Flag a request when its score > t.
 * @throws StatsError STATS_BAD_PARAMETER (fpr outside (0, 1)) | STATS_TOO_FEW_SAMPLES | STATS_NOT_FINITE
 */
export function thresholdAtFpr(negatives: ArrayLike<number>, fpr: number): number {
  if (!(fpr > 0 && fpr < 1))
    throw new StatsError('STATS_BAD_PARAMETER', `fpr must be in (0, 1), found ${fpr}`);
  const s = sorted(negatives, 'threshold calibration');
  const allowed = Math.floor(fpr * s.length);
  return s[s.length - 1 - allowed]!;
}

/** Fraction of `scores` strictly above `threshold`. */
export function rateAbove(scores: ArrayLike<number>, threshold: number): number {
  let k = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! > threshold) k++;
  return scores.length === 0 ? Number.NaN : k / scores.length;
}

/** True-positive rate at the threshold that holds the honest scores' false-positive rate to `fpr`. */
export function tprAtFpr(negatives: ArrayLike<number>, positives: ArrayLike<number>, fpr: number): number {
  return rateAbove(positives, thresholdAtFpr(negatives, fpr));
}

/**
 * Area under the ROC curve: the probability that a random substitute scores above a random
 * honest request, ties counting half (the Mann-Whitney U statistic over n_neg·n_pos).
 * @throws StatsError STATS_TOO_FEW_SAMPLES | STATS_NOT_FINITE
 */
export function rocAuc(negatives: ArrayLike<number>, positives: ArrayLike<number>): number {
  const neg = sorted(negatives, 'ROC AUC');
  const pos = sorted(positives, 'ROC AUC');
  let u = 0;
  let lo = 0;
  let hi = 0;
  for (const p of pos) {
    while (lo < neg.length && neg[lo]! < p) lo++;
    if (hi < lo) hi = lo;
    while (hi < neg.length && neg[hi]! <= p) hi++;
    u += lo + (hi - lo) / 2;
  }
  return u / (neg.length * pos.length);
}
