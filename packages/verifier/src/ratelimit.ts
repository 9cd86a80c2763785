import { TrustedProxies } from './http/proxies.ts';

/** What a rate limiter answers for one request. */
export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date, Unix ms. */
  at: number;
}

/**
 * Token buckets per client address (docs/api.md, "Rate limits"): each address holds up to
 * `burst` tokens, refilled at `perSecond`; a request takes one. The map is bounded by
 * `maxClients`: a Map keeps insertion order and a used bucket is moved to the end, so the
 * first entry is the longest idle and is dropped first. A dropped address starts again with a
 * full bucket, which is what an idle one would have had anyway once refilled; a flood of fresh
 * addresses can cycle buckets, so `maxClients` should be well above the clients seen in
 * `burst / perSecond` seconds. The clock is injected: tests are exact, nothing sleeps.
 * The client address is the socket's peer, or behind a trusted load balancer the client it
 * names in X-Forwarded-For (`trustProxy`, http/proxies.ts): never a header from anyone else.
 *
 * Per process on purpose (docs/deploy.md, "Several processes"): a limit protects this process's
 * sockets, memory and CPU, which is what it spends; behind a load balancer of N processes a
 * client gets up to N times the rate in all, which the operator sizes (or limits at the balancer).
 * Sharing buckets through the database would add a write per request to the hottest path and
 * make the database the thing a flood exhausts.
 */
export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  readonly #proxies: TrustedProxies;

  /** @throws RangeError when an entry of `o.trustProxy` is not an address or CIDR range */
  constructor(
    o: { perSecond: number; burst: number; maxClients: number; trustProxy?: readonly string[] },
    now: () => number,
  ) {
    this.#perSecond = o.perSecond;
    this.#burst = o.burst;
    this.#max = o.maxClients;
    this.#now = now;
    this.#proxies = new TrustedProxies(o.trustProxy ?? []);
  }

  /**
   * The client address whose bucket a request takes from: the peer's (`peer`, the socket's
   * remote address), or, when the peer is a trusted proxy, the right-most X-Forwarded-For hop
   * that is not one (TrustedProxies.client).
   */
  clientOf(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    return this.#proxies.client(peer, forwardedFor);
  }

  /** Takes one token from `client`'s bucket, or says how many seconds until one is there. */
  take(client: string): RateDecision {
    const now = this.#now();
    const old = this.#buckets.get(client);
    let b: Bucket;
    if (old === undefined) {
      b = { tokens: this.#burst, at: now };
      if (this.#buckets.size >= this.#max) {
        const first = this.#buckets.keys().next();
        if (!first.done) this.#buckets.delete(first.value);
      }
    } else {
      // A clock that steps back refills nothing (and never drains a bucket).
      const elapsed = Math.max(0, now - old.at);
      b = { tokens: Math.min(this.#burst, old.tokens + (elapsed * this.#perSecond) / 1000), at: now };
      this.#buckets.delete(client);
    }
    this.#buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.#perSecond)) };
  }

  /** Client addresses tracked now. */
  get size(): number {
    return this.#buckets.size;
  }
}
