import { TmbError } from '@tmb/core';

/** Error codes of `@tmb/stats` (docs/errors.md). */
export const STATS_ERROR_CODES = [
  'STATS_TOO_FEW_SAMPLES',
  'STATS_NOT_FINITE',
  'STATS_OUT_OF_SUPPORT',
  'STATS_DEGENERATE',
  'STATS_NO_CONVERGENCE',
  'STATS_BAD_PARAMETER',
  'PROFILE_MALFORMED',
] as const;

export type StatsErrorCode = (typeof STATS_ERROR_CODES)[number];

/**
 * The one error class of `@tmb/stats`. Thrown for data a fit cannot use (too few samples,
 * NaN, values outside the distribution's support, zero spread) and for bad parameters.
 * Callers switch on `code`; the message is for people.
 */
export class StatsError extends TmbError<StatsErrorCode> {
  constructor(code: StatsErrorCode, message: string, options?: ErrorOptions) {
    super('StatsError', code, message, options);
  }
}
