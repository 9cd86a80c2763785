import { StatsError } from '../errors.ts';

/** Error rates of a sequential test. */
export interface SprtOptions {
  /** Probability of flagging an honest host in one test (false alarm), in (0, 0.5). */
  alpha: number;
  /** Probability of passing a substituting host in one test (miss), in (0, 0.5). */
  beta: number;
}

/** What one observation led to. */
export type SprtDecision = 'continue' | 'accept-claimed' | 'accept-substitute';

/**
 * Wald's bounds: accept the substitute when the summed log-likelihood ratio reaches
 * ln((1-β)/α), accept the claim when it falls to ln(β/(1-α)) (Wald 1945, "Sequential tests
 * of statistical hypotheses"). With these bounds the realized error rates are at most
 * α/(1-β) and β/(1-α).
 * @throws StatsError STATS_BAD_PARAMETER when α or β is outside (0, 0.5)
 */
export function sprtBounds(o: SprtOptions): { upper: number; lower: number } {
  for (const [name, v] of [
    ['alpha', o.alpha],
    ['beta', o.beta],
  ] as const)
    if (!(v > 0 && v < 0.5))
      throw new StatsError('STATS_BAD_PARAMETER', `${name} must be in (0, 0.5), found ${v}`);
  return { upper: Math.log((1 - o.beta) / o.alpha), lower: Math.log(o.beta / (1 - o.alpha)) };
}

/**
 * Wald's sequential probability ratio test over one host's request stream, one log-likelihood
 * ratio (claimed vs one substitute) per request. After a decision it starts over, so a host
 * that switches to a substitute later is still caught. Pure state: no clocks, no I/O.
 * @example
 *   const t = new Sprt({ alpha: 0.001, beta: 0.01 });
 *   for (const r of requests) if (t.push(logLikelihoodRatio(claimed, sub, r)) === 'accept-substitute') flag();
 */
export class Sprt {
  readonly upper: number;
  readonly lower: number;
  /** Summed log-likelihood ratio since the last decision. */
  sum = 0;
  /** Observations since the last decision. */
  count = 0;

  constructor(options: SprtOptions) {
    const b = sprtBounds(options);
    this.upper = b.upper;
    this.lower = b.lower;
  }

  /** Adds one request's log-likelihood ratio; returns the decision (and restarts after one). */
  push(llr: number): SprtDecision {
    if (Number.isNaN(llr)) return 'continue';
    this.sum += llr;
    this.count++;
    let d: SprtDecision = 'continue';
    if (this.sum >= this.upper) d = 'accept-substitute';
    else if (this.sum <= this.lower) d = 'accept-claimed';
    if (d !== 'continue') {
      this.sum = 0;
      this.count = 0;
    }
    return d;
  }
}

/**
 * Wald's approximation of the expected number of requests to a decision, given the mean
 * per-request log-likelihood ratio under the hypothesis that is true (E[N] ≈ E[S_N]/E[llr],
 * with S_N taken at the bound reached). Infinity when the mean is 0.
 */
export function expectedRequests(o: SprtOptions, meanLlr: number, truth: 'claimed' | 'substitute'): number {
  const { upper, lower } = sprtBounds(o);
  const pUpper = truth === 'substitute' ? 1 - o.beta : o.alpha;
  return (pUpper * upper + (1 - pUpper) * lower) / meanLlr;
}
