import { randomBytes } from 'node:crypto';
import type { Store } from '../store/types.ts';

/** Why a nonce was refused: NONCE_UNKNOWN (never issued, expired, or another agent's) or NONCE_REUSED. */
export type NonceRefusal = { code: 'NONCE_UNKNOWN' | 'NONCE_REUSED'; detail: string };

/**
 * Single-use, expiring quote nonces (32 random bytes, hex), kept in the store (issueNonce,
 * consumeNonce) so that a nonce one verifier process issued is accepted by another behind the
 * same load balancer, and only once across all of them: the store decides the one use
 * atomically. A used nonce is remembered until it expires, so a replayed quote is named
 * NONCE_REUSED; after that it is unknown. Each agent holds at most `perAgent` live nonces (the
 * oldest is dropped), and expired ones are deleted at each issue, so no caller can grow the
 * table without bound. A restart of the verifier forgets nothing it needs: nonces are short-lived.
 */
export class Nonces {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #perAgent: number;

  constructor(store: Store, ttlMs: number, perAgent = 8) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#perAgent = perAgent;
  }

  /** A fresh nonce for `agent`, live for the TTL from `now`. */
  async issue(agent: string, now = Date.now()): Promise<{ nonce: string; expiresAt: number }> {
    const nonce = randomBytes(32).toString('hex');
    const expiresAt = now + this.#ttlMs;
    await this.#store.issueNonce(agent, nonce, expiresAt, now, this.#perAgent);
    return { nonce, expiresAt };
  }

  /** Marks the nonce used; undefined when it was live, unused and issued to `agent`. */
  async consume(agent: string, nonce: string, now = Date.now()): Promise<NonceRefusal | undefined> {
    // Attacker-controlled: anything but 64 hex digits was never issued (and never reaches the store).
    if (!/^[0-9a-f]{64}$/.test(nonce))
      return { code: 'NONCE_UNKNOWN', detail: 'the nonce was not issued by this verifier or has expired' };
    switch (await this.#store.consumeNonce(agent, nonce, now)) {
      case 'ok':
        return undefined;
      case 'unknown':
        return { code: 'NONCE_UNKNOWN', detail: 'the nonce was not issued by this verifier or has expired' };
      case 'other-agent':
        return {
          code: 'NONCE_UNKNOWN',
          detail: `the nonce was issued to another agent, not ${JSON.stringify(agent)}`,
        };
      case 'reused':
        return { code: 'NONCE_REUSED', detail: 'the nonce was already used by an earlier quote' };
    }
  }
}
