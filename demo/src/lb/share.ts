/**
 * The cheat share as load-balancer weights, and nginx's smooth weighted round-robin replayed in
 * TypeScript (for the demo's routing without nginx, and to check nginx's sequence in tests).
 */

/** Weights that send `share` of the requests to one cheap server and the rest evenly to the honest ones. */
export interface CheatWeights {
  /** The cheap server's weight; 0: it gets no request (left out of the upstream). */
  cheap: number;
  /** Each honest server's weight; 0: none of them gets a request. */
  honest: number;
  /** The share the weights really give: `share` rounded to a whole percent. */
  share: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Weights for a cheat share over `honestHosts` honest servers and one cheap one. The share is
 * rounded to a whole percent p; the cheap server weighs p x H and each honest one 100 - p, so the
 * cheap server's share of the total is exactly p / 100; both are divided by their common divisor
 * (share 0.2 over 2 honest hosts: cheap 1, honest 2 each, a period of 5 requests).
 * @throws RangeError when share is outside [0, 1] or honestHosts is not a positive integer
 */
export function cheatWeights(share: number, honestHosts: number): CheatWeights {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`cheat share ${share} is not in [0, 1]`);
  if (!Number.isSafeInteger(honestHosts) || honestHosts < 1)
    throw new RangeError(`${honestHosts} honest hosts: at least 1`);
  const p = Math.round(share * 100);
  if (p === 0) return { cheap: 0, honest: 1, share: 0 };
  if (p === 100) return { cheap: 1, honest: 0, share: 1 };
  const cheap = p * honestHosts;
  const honest = 100 - p;
  const d = gcd(cheap, honest);
  return { cheap: cheap / d, honest: honest / d, share: p / 100 };
}

type Peer<T> = { target: T; weight: number; current: number };

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_round_robin.c, one worker, no failures):
 * each pick adds every server's weight to its current weight, takes the first server with the
 * greatest current weight and subtracts the total from it. Servers of weight 0 are never picked.
 * Over a period of (sum of weights) picks each server gets exactly its weight.
 */
export class SmoothRoundRobin<T> {
  readonly #servers: Array<Peer<T>>;
  readonly #total: number;

  /** @throws RangeError when no server has a positive weight */
  constructor(servers: ReadonlyArray<{ target: T; weight: number }>) {
    this.#servers = servers.filter((s) => s.weight > 0).map((s) => ({ ...s, current: 0 }));
    this.#total = this.#servers.reduce((n, s) => n + s.weight, 0);
    if (this.#total === 0) throw new RangeError('no server with a positive weight');
  }

  /** The next server. */
  next(): T {
    let best: Peer<T> | undefined;
    for (const s of this.#servers) {
      s.current += s.weight;
      if (best === undefined || s.current > best.current) best = s;
    }
    best!.current -= this.#total;
    return best!.target;
  }
}
