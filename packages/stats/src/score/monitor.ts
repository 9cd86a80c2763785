import type { Profile, ProfileKey } from '../profile/types.ts';
import { logLikelihoodRatio, type ScoredFeatures } from './request.ts';
import { Sprt, type SprtDecision, type SprtOptions } from './sprt.ts';

/** One host's standing against one registered substitute. */
export interface SubstituteState {
  substitute: ProfileKey;
  decision: SprtDecision;
  /** Summed log-likelihood ratio since the last decision. */
  sum: number;
  /** How many times this substitute was flagged on this host so far. */
  flags: number;
}

/**
 * Watches one host's request stream against every registered substitute of its claimed
 * profile: one Sprt per substitute, each at α / (number of substitutes) so that the chance of
 * any false flag per test stays at α (Bonferroni). Feed it each request's features in order.
 * @throws StatsError STATS_BAD_PARAMETER for α or β outside (0, 0.5)
 * @example
 *   const m = new HostMonitor(claimed, [smaller, quantized], { alpha: 1e-4, beta: 0.01 });
 *   const states = m.observe(features); // any state.decision === 'accept-substitute' flags the host
 */
export class HostMonitor {
  readonly claimed: Profile;
  readonly #subs: { profile: Profile; test: Sprt; flags: number }[];

  constructor(claimed: Profile, substitutes: readonly Profile[], options: SprtOptions) {
    this.claimed = claimed;
    const alpha = options.alpha / Math.max(1, substitutes.length);
    this.#subs = substitutes.map((profile) => ({
      profile,
      test: new Sprt({ alpha, beta: options.beta }),
      flags: 0,
    }));
  }

  /** Adds one request; returns the decision of each substitute's test after it. */
  observe(f: ScoredFeatures): SubstituteState[] {
    return this.#subs.map((s) => {
      const decision = s.test.push(logLikelihoodRatio(this.claimed, s.profile, f));
      if (decision === 'accept-substitute') s.flags++;
      return { substitute: s.profile.key, decision, sum: s.test.sum, flags: s.flags };
    });
  }
}
