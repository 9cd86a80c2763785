import { StatsError } from '../errors.ts';
import { digamma, logGamma, trigamma } from '../special/gamma.ts';
import { checkPositive, checkSamples } from './check.ts';

/** A beta distribution on (0, 1). */
export interface BetaParams {
  alpha: number;
  beta: number;
}

/** A maximum-likelihood beta fit with its log-likelihood and asymptotic standard errors. */
export interface BetaFit extends BetaParams {
  logLikelihood: number;
  /** Standard errors from the inverse observed Fisher information (for Wald intervals). */
  se: { alpha: number; beta: number };
  iterations: number;
}

/**
 * How far from 0 and 1 observations are moved before taking logs. A measured utilization or
 * power fraction of exactly 0 or 1 is a rounded reading (nvidia-smi prints whole percent), and
 * the beta log-density is infinite there, so 0 becomes EPS and 1 becomes 1 - EPS. 1e-6 is far
 * below the tools' resolution (1%), so clamping moves no real reading.
 */
export const BETA_EPSILON = 1e-6;

/** Sufficient statistics of a beta sample: mean ln x, mean ln(1-x), mean and variance of x. */
export interface BetaStats {
  n: number;
  meanLogX: number;
  meanLog1mX: number;
  mean: number;
  variance: number;
}

/** x clamped into [BETA_EPSILON, 1 - BETA_EPSILON]. */
export function clampUnit(x: number): number {
  return Math.min(1 - BETA_EPSILON, Math.max(BETA_EPSILON, x));
}

/** ln B(α, β) = lnΓ(α) + lnΓ(β) - lnΓ(α+β), the beta density's normalizer. */
export function logBeta(p: BetaParams): number {
  return logGamma(p.alpha) + logGamma(p.beta) - logGamma(p.alpha + p.beta);
}

/** ln of the beta density at x (x clamped by BETA_EPSILON). */
export function betaLogPdf(p: BetaParams, x: number): number {
  const c = clampUnit(x);
  return (p.alpha - 1) * Math.log(c) + (p.beta - 1) * Math.log1p(-c) - logBeta(p);
}

/**
 * One pass over the data for the sufficient statistics. Checks support and degeneracy.
 * @throws StatsError STATS_TOO_FEW_SAMPLES | STATS_NOT_FINITE | STATS_OUT_OF_SUPPORT | STATS_DEGENERATE
 */
export function betaStats(xs: ArrayLike<number>): BetaStats {
  checkSamples(xs, 2, 'beta fit', 0, 1);
  const n = xs.length;
  let sl = 0;
  let sl1 = 0;
  let s = 0;
  let extremes = 0;
  const first = xs[0]!;
  let allEqual = true;
  for (let i = 0; i < n; i++) {
    const raw = xs[i]!;
    if (raw !== first) allEqual = false;
    if (raw === 0 || raw === 1) extremes++;
    const x = clampUnit(raw);
    sl += Math.log(x);
    sl1 += Math.log1p(-x);
    s += x;
  }
  if (allEqual) throw new StatsError('STATS_DEGENERATE', `beta fit: all ${n} samples equal ${first}`);
  if (extremes === n)
    throw new StatsError('STATS_DEGENERATE', 'beta fit: every sample is exactly 0 or 1; no interior data');
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = clampUnit(xs[i]!) - mean;
    ss += d * d;
  }
  if (!(ss > 0))
    throw new StatsError('STATS_DEGENERATE', `beta fit: no spread left after clamping to [ε, 1-ε]`);
  return { n, meanLogX: sl / n, meanLog1mX: sl1 / n, mean, variance: ss / (n - 1) };
}

/** Method-of-moments start: α = m·c, β = (1-m)·c with c = m(1-m)/v - 1 (floored at a small positive). */
export function betaMoments(mean: number, variance: number): BetaParams {
  const c = Math.max((mean * (1 - mean)) / variance - 1, 1e-3);
  return { alpha: mean * c, beta: (1 - mean) * c };
}

const MAX_ITER = 200;
const GRAD_TOL = 1e-12;

/**
 * Beta maximum likelihood by Newton's method on the per-sample log-likelihood
 *   ℓ(α,β) = lnΓ(α+β) - lnΓ(α) - lnΓ(β) + (α-1)·mean ln x + (β-1)·mean ln(1-x)
 * whose gradient is ψ(α+β) - ψ(α) + mean ln x, ψ(α+β) - ψ(β) + mean ln(1-x) and whose Hessian
 * [[ψ'(α+β)-ψ'(α), ψ'(α+β)], [ψ'(α+β), ψ'(α+β)-ψ'(β)]] is negative definite, so ℓ is concave
 * and the maximum is unique. Starts from method-of-moments; a step that leaves α, β > 0 or
 * lowers ℓ is halved. Converged when the gradient's largest component is below 1e-12 or a
 * step changes both parameters by under 1e-13 relative.
 * @throws StatsError STATS_NO_CONVERGENCE after 200 iterations
 */
export function fitBetaFromStats(st: BetaStats): BetaFit {
  let { alpha: a, beta: b } = betaMoments(st.mean, st.variance);
  const ll = (x: number, y: number) =>
    logGamma(x + y) - logGamma(x) - logGamma(y) + (x - 1) * st.meanLogX + (y - 1) * st.meanLog1mX;
  let cur = ll(a, b);
  for (let it = 1; it <= MAX_ITER; it++) {
    const psiAB = digamma(a + b);
    const g1 = psiAB - digamma(a) + st.meanLogX;
    const g2 = psiAB - digamma(b) + st.meanLog1mX;
    const tAB = trigamma(a + b);
    const h11 = tAB - trigamma(a);
    const h22 = tAB - trigamma(b);
    const det = h11 * h22 - tAB * tAB;
    if (Math.max(Math.abs(g1), Math.abs(g2)) < GRAD_TOL) return done(st, a, b, cur, it);
    // Newton step Δ = -H⁻¹ g
    let da = -(h22 * g1 - tAB * g2) / det;
    let db = -(-tAB * g1 + h11 * g2) / det;
    let next = Number.NEGATIVE_INFINITY;
    for (let half = 0; half < 60; half++) {
      if (a + da > 0 && b + db > 0) {
        next = ll(a + da, b + db);
        if (next >= cur - 1e-15 * Math.abs(cur)) break;
      }
      da /= 2;
      db /= 2;
    }
    if (!Number.isFinite(next)) break;
    a += da;
    b += db;
    cur = next;
    if (Math.abs(da) <= 1e-13 * a && Math.abs(db) <= 1e-13 * b) return done(st, a, b, cur, it);
  }
  throw new StatsError('STATS_NO_CONVERGENCE', `beta fit did not converge (last α=${a}, β=${b})`);
}

function done(st: BetaStats, a: number, b: number, perSample: number, iterations: number): BetaFit {
  // Observed information per sample is -H; covariance = (n·(-H))⁻¹.
  const tAB = trigamma(a + b);
  const i11 = trigamma(a) - tAB;
  const i22 = trigamma(b) - tAB;
  const det = (i11 * i22 - tAB * tAB) * st.n;
  return {
    alpha: a,
    beta: b,
    // ℓ of the clamped data, which is what was fitted.
    logLikelihood: perSample * st.n,
    se: { alpha: Math.sqrt(i22 / det), beta: Math.sqrt(i11 / det) },
    iterations,
  };
}

/**
 * Fits a beta distribution to values in [0, 1] by maximum likelihood (see fitBetaFromStats).
 * @throws StatsError STATS_TOO_FEW_SAMPLES (< 2), STATS_NOT_FINITE, STATS_OUT_OF_SUPPORT,
 *   STATS_DEGENERATE (all equal, or all exactly 0 or 1), STATS_NO_CONVERGENCE
 * @example fitBeta([0.2, 0.4, 0.35, 0.5]) // { alpha: ..., beta: ..., logLikelihood: ... }
 */
export function fitBeta(xs: ArrayLike<number>): BetaFit {
  return fitBetaFromStats(betaStats(xs));
}

/** Checks beta parameters. @throws StatsError STATS_BAD_PARAMETER */
export function checkBeta(p: BetaParams): void {
  checkPositive('alpha', p.alpha);
  checkPositive('beta', p.beta);
}
