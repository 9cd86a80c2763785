import { createHash, timingSafeEqual } from 'node:crypto';
import { VerifierError } from './errors.ts';
import type { TokenEntry } from './options.ts';

interface HashedToken {
  hash: Buffer;
  agent: string | undefined;
}

/** What a valid token allows: any agent name (`agent` undefined) or only one. */
export interface Grant {
  agent: string | undefined;
}

/**
 * Bearer-token check. Tokens are kept only as SHA-256 digests; the presented token is hashed
 * too and compared with every known digest by timingSafeEqual (equal lengths by construction,
 * and no early exit), so neither the time taken nor the logs reveal a token.
 */
export class TokenAuth {
  readonly #tokens: HashedToken[];

  constructor(tokens: readonly TokenEntry[]) {
    this.#tokens = tokens.map((t) => ({ hash: sha256(t.token), agent: t.agent }));
  }

  /**
   * The grant of the token in an `Authorization: Bearer` header.
   * @throws VerifierError TOKEN_INVALID when missing or unknown.
   */
  check(authorization: string | undefined): Grant {
    const m = /^Bearer ([\x21-\x7e]+)$/.exec(authorization ?? '');
    if (m === null) throw new VerifierError('TOKEN_INVALID', 'expected Authorization: Bearer <agent token>');
    const presented = sha256(m[1]!);
    let found: HashedToken | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.hash, presented) && found === undefined) found = t;
    if (found === undefined) throw new VerifierError('TOKEN_INVALID', 'agent token not recognised');
    return { agent: found.agent };
  }

  /**
   * Checks that a grant may act for `agent`.
   * @throws VerifierError TOKEN_AGENT_MISMATCH
   */
  static allow(grant: Grant, agent: string): void {
    if (grant.agent !== undefined && grant.agent !== agent) {
      throw new VerifierError('TOKEN_AGENT_MISMATCH', `this token is pinned to another agent than ${agent}`);
    }
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
