import { StatsError } from '../errors.ts';
import { checkPositive, checkSamples } from './check.ts';

/** A normal distribution. */
export interface NormalParams {
  mean: number;
  sd: number;
}

/**
 * A log-normal distribution: ln X ~ Normal(mu, sigma). Energy per token and tokens per second
 * are positive and right-skewed (a ratio of positive quantities), so they are fitted as a
 * gaussian on their logarithm.
 */
export interface LogNormalParams {
  mu: number;
  sigma: number;
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln of the normal density at x. */
export function normalLogPdf(p: NormalParams, x: number): number {
  const z = (x - p.mean) / p.sd;
  return -0.5 * z * z - Math.log(p.sd) - HALF_LOG_2PI;
}

/** ln of the log-normal density at x > 0 (-Infinity at x <= 0). */
export function logNormalLogPdf(p: LogNormalParams, x: number): number {
  if (!(x > 0)) return Number.NEGATIVE_INFINITY;
  const lx = Math.log(x);
  const z = (lx - p.mu) / p.sigma;
  return -0.5 * z * z - Math.log(p.sigma) - HALF_LOG_2PI - lx;
}

/**
 * Normal maximum likelihood: the sample mean and the (biased, 1/n) standard deviation.
 * @throws StatsError STATS_TOO_FEW_SAMPLES (< 2) | STATS_NOT_FINITE | STATS_DEGENERATE (zero spread)
 */
export function fitNormal(xs: ArrayLike<number>): NormalParams & { logLikelihood: number } {
  checkSamples(xs, 2, 'normal fit');
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i]!;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i]! - mean;
    ss += d * d;
  }
  const sd = Math.sqrt(ss / n);
  if (!(sd > 0)) throw new StatsError('STATS_DEGENERATE', `normal fit: all ${n} samples equal ${xs[0]}`);
  return { mean, sd, logLikelihood: -n * (Math.log(sd) + HALF_LOG_2PI + 0.5) };
}

/**
 * Log-normal maximum likelihood (a normal fit of ln x). The log-likelihood is of x, so it
 * includes the Jacobian term -Σ ln x.
 * @throws StatsError STATS_OUT_OF_SUPPORT (x <= 0) and the codes of fitNormal
 */
export function fitLogNormal(xs: ArrayLike<number>): LogNormalParams & { logLikelihood: number } {
  checkSamples(xs, 2, 'log-normal fit');
  const logs = new Float64Array(xs.length);
  let sumLog = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (!(x > 0))
      throw new StatsError('STATS_OUT_OF_SUPPORT', `log-normal fit: sample ${i} is ${x}, expected > 0`);
    logs[i] = Math.log(x);
    sumLog += logs[i]!;
  }
  const f = fitNormal(logs);
  return { mu: f.mean, sigma: f.sd, logLikelihood: f.logLikelihood - sumLog };
}

/** Checks normal parameters. @throws StatsError STATS_BAD_PARAMETER */
export function checkNormal(p: NormalParams): void {
  if (!Number.isFinite(p.mean)) throw new StatsError('STATS_BAD_PARAMETER', `mean must be finite: ${p.mean}`);
  checkPositive('sd', p.sd);
}
