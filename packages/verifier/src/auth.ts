import { createHash, timingSafeEqual } from 'node:crypto';
import { VerifierError } from './errors.ts';
import type { TokenEntry } from './options.ts';

interface HashedToken {
  hash: Buffer;
  grant: Grant;
}

/**
 * What a valid token allows. An agent token acts for its one agent (writes, and reads of its
 * own listings); a reader token reads every agent's listings and writes nothing.
 */
export type Grant = { kind: 'agent'; agent: string } | { kind: 'reader' };

/**
 * Bearer-token check. Tokens are kept only as SHA-256 digests, indexed by the digest: the
 * presented token is hashed and looked up, so a check costs the same with ten tokens or ten
 * thousand (one per agent of a large fleet). The lookup's timing can only depend on the digest of
 * what was presented, which an attacker cannot steer bit by bit, never on a known token's bytes;
 * the entry found is still confirmed with timingSafeEqual. Neither the time taken nor the logs
 * reveal a token.
 */
export class TokenAuth {
  readonly #tokens = new Map<string, HashedToken>();

  constructor(tokens: readonly TokenEntry[], readerTokens: readonly string[] = []) {
    const all = [
      ...tokens.map(
        (t): HashedToken => ({ hash: sha256(t.token), grant: { kind: 'agent', agent: t.agent } }),
      ),
      ...readerTokens.map((t): HashedToken => ({ hash: sha256(t), grant: { kind: 'reader' } })),
    ];
    // The first entry of a token given twice wins, as the linear scan this replaces did.
    for (const t of all) {
      const key = t.hash.toString('hex');
      if (!this.#tokens.has(key)) this.#tokens.set(key, t);
    }
  }

  /**
   * The grant of the token in an `Authorization: Bearer` header.
   * @throws VerifierError TOKEN_INVALID when missing or unknown.
   */
  check(authorization: string | undefined): Grant {
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(authorization ?? '');
    if (m === null) throw new VerifierError('TOKEN_INVALID', 'expected Authorization: Bearer <token>');
    const presented = sha256(m[1]!);
    const found = this.#tokens.get(presented.toString('hex'));
    if (found === undefined || !timingSafeEqual(found.hash, presented)) {
      throw new VerifierError('TOKEN_INVALID', 'token not recognised');
    }
    return found.grant;
  }

  /**
   * Checks that a grant may act (write) for `agent`: only that agent's own token may.
   * @throws VerifierError TOKEN_AGENT_MISMATCH
   */
  static allow(grant: Grant, agent: string): void {
    if (grant.kind !== 'agent') {
      throw new VerifierError('TOKEN_AGENT_MISMATCH', `a reader token cannot act for agent ${agent}`);
    }
    if (grant.agent !== agent) {
      throw new VerifierError('TOKEN_AGENT_MISMATCH', `this token acts for another agent than ${agent}`);
    }
  }

  /** Whether a grant may read `agent`'s listings (keys, request ids): a reader, or its own agent. */
  static canRead(grant: Grant, agent: string): boolean {
    return grant.kind === 'reader' || grant.agent === agent;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
