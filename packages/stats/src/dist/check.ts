import { StatsError } from '../errors.ts';

/**
 * Checks that every value is finite and, where given, inside [lo, hi], and that there are at
 * least `minCount` values (the number of free parameters of the fit, or more).
 * @throws StatsError STATS_TOO_FEW_SAMPLES | STATS_NOT_FINITE | STATS_OUT_OF_SUPPORT
 */
export function checkSamples(
  xs: ArrayLike<number>,
  minCount: number,
  what: string,
  lo = Number.NEGATIVE_INFINITY,
  hi = Number.POSITIVE_INFINITY,
): void {
  if (xs.length < minCount)
    throw new StatsError(
      'STATS_TOO_FEW_SAMPLES',
      `${what} needs at least ${minCount} samples, found ${xs.length}`,
    );
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (!Number.isFinite(x))
      throw new StatsError('STATS_NOT_FINITE', `${what}: sample ${i} is ${x}, expected a finite number`);
    if (x < lo || x > hi)
      throw new StatsError('STATS_OUT_OF_SUPPORT', `${what}: sample ${i} is ${x}, outside [${lo}, ${hi}]`);
  }
}

/** Checks that a distribution parameter is finite and positive. @throws StatsError STATS_BAD_PARAMETER */
export function checkPositive(name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0))
    throw new StatsError('STATS_BAD_PARAMETER', `${name} must be a finite positive number, found ${v}`);
}
