import { randomBytes } from 'node:crypto';

/** Why a nonce was refused: NONCE_UNKNOWN (never issued, expired, or another agent's) or NONCE_REUSED. */
export type NonceRefusal = { code: 'NONCE_UNKNOWN' | 'NONCE_REUSED'; detail: string };

interface Issued {
  agent: string;
  expires: number;
  used: boolean;
}

/**
 * Single-use, expiring quote nonces (32 random bytes, hex), held in memory: a restart of the
 * verifier only makes agents ask again. A used nonce is remembered until it expires, so a
 * replayed quote is named NONCE_REUSED; after that it is unknown. Each agent holds at most
 * `perAgent` live nonces (the oldest is dropped), so no caller can grow the map without bound.
 */
export class Nonces {
  readonly #ttlMs: number;
  readonly #perAgent: number;
  readonly #issued = new Map<string, Issued>();
  readonly #byAgent = new Map<string, string[]>();

  constructor(ttlMs: number, perAgent = 8) {
    this.#ttlMs = ttlMs;
    this.#perAgent = perAgent;
  }

  issue(agent: string, now = Date.now()): { nonce: string; expiresAt: number } {
    this.#prune(now);
    const nonce = randomBytes(32).toString('hex');
    const expires = now + this.#ttlMs;
    this.#issued.set(nonce, { agent, expires, used: false });
    const list = this.#byAgent.get(agent) ?? [];
    list.push(nonce);
    while (list.length > this.#perAgent) this.#issued.delete(list.shift()!);
    this.#byAgent.set(agent, list);
    return { nonce, expiresAt: expires };
  }

  /** Marks the nonce used; undefined when it was live, unused and issued to `agent`. */
  consume(agent: string, nonce: string, now = Date.now()): NonceRefusal | undefined {
    const n = this.#issued.get(nonce);
    if (n === undefined || n.expires <= now)
      return { code: 'NONCE_UNKNOWN', detail: 'the nonce was not issued by this verifier or has expired' };
    if (n.agent !== agent)
      return {
        code: 'NONCE_UNKNOWN',
        detail: `the nonce was issued to another agent, not ${JSON.stringify(agent)}`,
      };
    if (n.used) return { code: 'NONCE_REUSED', detail: 'the nonce was already used by an earlier quote' };
    n.used = true;
    return undefined;
  }

  #prune(now: number): void {
    for (const [agent, list] of this.#byAgent) {
      const live = list.filter((k) => {
        const n = this.#issued.get(k);
        if (n !== undefined && n.expires > now) return true;
        this.#issued.delete(k);
        return false;
      });
      if (live.length === 0) this.#byAgent.delete(agent);
      else this.#byAgent.set(agent, live);
    }
  }
}
