import { StatsError } from '../errors.ts';
import { type BetaParams, clampUnit, fitBetaFromStats, logBeta } from './beta.ts';
import { checkSamples } from './check.ts';
import { type NormalParams, normalLogPdf } from './normal.ts';

/** A two-component mixture: weights sum to 1, components in ascending order of mean. */
export interface Mixture<P> {
  weights: [number, number];
  components: [P, P];
  logLikelihood: number;
  iterations: number;
}

/**
 * EM stopping rule: the mean per-sample log-likelihood changed by less than TOL in one round.
 * EM converges linearly, slowly when the components overlap; 1e-9 per sample is far below any
 * difference that matters for scoring and is reached within MAX_ITER rounds on overlapping data
 * (test/dist/mixture.test.ts).
 */
const TOL = 1e-9;
const MAX_ITER = 5000;
/** A component whose weight falls below this has collapsed: the data have one mode. */
const MIN_WEIGHT = 1e-6;

/** ln(e^a + e^b) without overflow. */
function logAdd(a: number, b: number): number {
  const m = Math.max(a, b);
  if (m === Number.NEGATIVE_INFINITY) return m;
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/** The two halves below and above the median: the deterministic start for both mixtures. */
function splitAtMedian(xs: ArrayLike<number>): Float64Array {
  const sorted = Float64Array.from(xs).sort();
  const median = sorted[sorted.length >> 1]!;
  const r = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) r[i] = xs[i]! < median ? 1 : 0;
  return r;
}

/** Checks the data have spread (EM on all-equal data has no answer). */
function checkSpread(xs: ArrayLike<number>, what: string): void {
  const first = xs[0]!;
  for (let i = 1; i < xs.length; i++) if (xs[i] !== first) return;
  throw new StatsError('STATS_DEGENERATE', `${what}: all ${xs.length} samples equal ${first}`);
}

/**
 * Shared EM loop: `resp[i]` is the responsibility of component 0 for sample i; `mStep` fits
 * both components from responsibilities; `logPdf(k, i)` is ln f_k(x_i).
 */
function em<P>(
  n: number,
  resp: Float64Array,
  mStep: (resp: Float64Array) => [P, P],
  logPdf: (comps: [P, P], k: 0 | 1, i: number) => number,
  what: string,
): { weights: [number, number]; components: [P, P]; logLikelihood: number; iterations: number } {
  let prev = Number.NEGATIVE_INFINITY;
  for (let it = 1; it <= MAX_ITER; it++) {
    let r0 = 0;
    for (let i = 0; i < n; i++) r0 += resp[i]!;
    const w0 = r0 / n;
    if (w0 < MIN_WEIGHT || w0 > 1 - MIN_WEIGHT)
      throw new StatsError('STATS_DEGENERATE', `${what}: one component took all the data (one mode)`);
    const comps = mStep(resp);
    const lw0 = Math.log(w0);
    const lw1 = Math.log(1 - w0);
    let ll = 0;
    for (let i = 0; i < n; i++) {
      const a = lw0 + logPdf(comps, 0, i);
      const b = lw1 + logPdf(comps, 1, i);
      const t = logAdd(a, b);
      ll += t;
      resp[i] = Math.exp(a - t);
    }
    if (!Number.isFinite(ll)) throw new StatsError('STATS_DEGENERATE', `${what}: log-likelihood is ${ll}`);
    if (Math.abs(ll - prev) <= TOL * n)
      return { weights: [w0, 1 - w0], components: comps, logLikelihood: ll, iterations: it };
    prev = ll;
  }
  throw new StatsError('STATS_NO_CONVERGENCE', `${what}: EM did not converge in ${MAX_ITER} iterations`);
}

function ordered<P>(m: Mixture<P>, mean: (p: P) => number): Mixture<P> {
  if (mean(m.components[0]) <= mean(m.components[1])) return m;
  return {
    ...m,
    weights: [m.weights[1], m.weights[0]],
    components: [m.components[1], m.components[0]],
  };
}

/**
 * Two-component gaussian mixture by EM (Dempster, Laird & Rubin 1977), started from the
 * halves below and above the median. Each component's sd is floored at 1e-3 of the data's
 * sd so that a component cannot collapse onto one point (the likelihood is unbounded there).
 * @throws StatsError STATS_TOO_FEW_SAMPLES (< 5, the parameter count), STATS_NOT_FINITE,
 *   STATS_DEGENERATE (all equal, or one mode), STATS_NO_CONVERGENCE
 */
export function fitGaussianMixture(xs: ArrayLike<number>): Mixture<NormalParams> {
  const what = 'gaussian-mixture fit';
  checkSamples(xs, 5, what);
  checkSpread(xs, what);
  const n = xs.length;
  let s = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) s += xs[i]!;
  const mu = s / n;
  for (let i = 0; i < n; i++) ss += (xs[i]! - mu) ** 2;
  const floor = 1e-3 * Math.sqrt(ss / n);
  const mStep = (resp: Float64Array): [NormalParams, NormalParams] => {
    let w0 = 0;
    let w1 = 0;
    let m0 = 0;
    let m1 = 0;
    for (let i = 0; i < n; i++) {
      const r = resp[i]!;
      w0 += r;
      w1 += 1 - r;
      m0 += r * xs[i]!;
      m1 += (1 - r) * xs[i]!;
    }
    m0 /= w0;
    m1 /= w1;
    let v0 = 0;
    let v1 = 0;
    for (let i = 0; i < n; i++) {
      const r = resp[i]!;
      v0 += r * (xs[i]! - m0) ** 2;
      v1 += (1 - r) * (xs[i]! - m1) ** 2;
    }
    return [
      { mean: m0, sd: Math.max(Math.sqrt(v0 / w0), floor) },
      { mean: m1, sd: Math.max(Math.sqrt(v1 / w1), floor) },
    ];
  };
  const fit = em(n, splitAtMedian(xs), mStep, (c, k, i) => normalLogPdf(c[k], xs[i]!), what);
  return ordered(fit, (p) => p.mean);
}

/**
 * Two-component beta mixture by EM. The M-step is a weighted beta maximum-likelihood fit:
 * the weighted means of ln x and ln(1-x) are the sufficient statistics, solved by the same
 * Newton iteration as fitBeta, started from weighted moments. Values are clamped by
 * BETA_EPSILON like fitBeta.
 * @throws StatsError STATS_TOO_FEW_SAMPLES (< 5), STATS_NOT_FINITE, STATS_OUT_OF_SUPPORT,
 *   STATS_DEGENERATE (all equal, all 0 or 1, or one mode), STATS_NO_CONVERGENCE
 */
export function fitBetaMixture(xs: ArrayLike<number>): Mixture<BetaParams> {
  const what = 'beta-mixture fit';
  checkSamples(xs, 5, what, 0, 1);
  checkSpread(xs, what);
  const n = xs.length;
  const cx = new Float64Array(n);
  const lx = new Float64Array(n);
  const l1x = new Float64Array(n);
  let interior = 0;
  for (let i = 0; i < n; i++) {
    if (xs[i] !== 0 && xs[i] !== 1) interior++;
    cx[i] = clampUnit(xs[i]!);
    lx[i] = Math.log(cx[i]!);
    l1x[i] = Math.log1p(-cx[i]!);
  }
  if (interior === 0) throw new StatsError('STATS_DEGENERATE', `${what}: every sample is exactly 0 or 1`);
  const weighted = (resp: Float64Array, k: 0 | 1) => {
    let w = 0;
    let sl = 0;
    let sl1 = 0;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const r = k === 0 ? resp[i]! : 1 - resp[i]!;
      w += r;
      sl += r * lx[i]!;
      sl1 += r * l1x[i]!;
      m += r * cx[i]!;
    }
    m /= w;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const r = k === 0 ? resp[i]! : 1 - resp[i]!;
      v += r * (cx[i]! - m) ** 2;
    }
    // A weighted sample may have no spread left; the variance floor keeps moments defined.
    const variance = Math.max(v / w, 1e-12);
    const f = fitBetaFromStats({ n: w, meanLogX: sl / w, meanLog1mX: sl1 / w, mean: m, variance });
    return { alpha: f.alpha, beta: f.beta };
  };
  const mStep = (resp: Float64Array): [BetaParams, BetaParams] => [weighted(resp, 0), weighted(resp, 1)];
  // ln B(α, β) per component, computed once per EM round rather than once per sample.
  let cached: [BetaParams, BetaParams] | undefined;
  const logB: [number, number] = [0, 0];
  const logPdf = (c: [BetaParams, BetaParams], k: 0 | 1, i: number): number => {
    if (c !== cached) {
      cached = c;
      for (const j of [0, 1] as const) logB[j] = logBeta(c[j]);
    }
    return (c[k].alpha - 1) * lx[i]! + (c[k].beta - 1) * l1x[i]! - logB[k];
  };
  const fit = em(n, splitAtMedian(cx), mStep, logPdf, what);
  return ordered(fit, (p) => p.alpha / (p.alpha + p.beta));
}

/** ln of a two-component mixture's density at x. */
export function mixtureLogPdf<P>(
  m: Pick<Mixture<P>, 'weights' | 'components'>,
  logPdf: (p: P, x: number) => number,
  x: number,
): number {
  return logAdd(
    Math.log(m.weights[0]) + logPdf(m.components[0], x),
    Math.log(m.weights[1]) + logPdf(m.components[1], x),
  );
}
