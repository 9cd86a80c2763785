import { type CryptoKey, compactVerify, importJWK, type JWK } from 'jose';
import type { ClientCheck } from '../types.ts';
import { Memo } from './memo.ts';
import { iso, text } from './text.ts';

const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

// Imported verifier keys (a client pins one or a few): imported once, not per bundle.
const keys = new Memo<Promise<CryptoKey>>(16);

/** The `tmb-receipt` submodule of a verified EAR: only what verifyBundle reads. Signed. */
export interface BundleClaims {
  iat: number;
  receiptId: string;
  level: unknown;
  ok: unknown;
  checks: unknown[];
  evidenceSha256: unknown;
  agentKey: unknown;
  enrolment: unknown;
  ak: unknown;
}

/**
 * Verifies the bundle's EAR: an ES256 JWS under the pinned verifier key (kid compared when the
 * key has one), `typ` JWT, the given issuer, the EAR profile and a `tmb-receipt` submodule. Its
 * `exp` is not checked: a bundle is an archived statement the verifier made at `iat`, and is
 * read long after the 300 s a live result is fetched for (docs/bundle.md); given `now`, it must
 * not be issued after it (60 s of skew). Never throws.
 */
export async function verifyBundleResult(
  jwt: string,
  key: JWK,
  issuer: string,
  now?: Date,
): Promise<{ check: ClientCheck; claims: BundleClaims | null }> {
  const fail = (detail: string) => ({
    check: { name: 'verifier.result', status: 'fail', code: 'RESULT_INVALID', detail } as ClientCheck,
    claims: null,
  });
  let k: CryptoKey;
  try {
    if (key.kty !== 'EC' || key.crv !== 'P-256' || typeof key.x !== 'string' || typeof key.y !== 'string')
      throw new TypeError('not P-256');
    const { x, y } = key;
    const p = keys.get(
      `${x}.${y}`,
      () => importJWK({ kty: 'EC', crv: 'P-256', x, y }, 'ES256') as Promise<CryptoKey>,
    );
    k = await p;
  } catch {
    return fail('the verifier key is not a usable P-256 JWK');
  }
  let payload: Record<string, unknown>;
  try {
    const r = await compactVerify(jwt, k, { algorithms: ['ES256'] });
    if (r.protectedHeader.typ !== 'JWT') return fail('the result is not typed JWT');
    if (key.kid !== undefined && r.protectedHeader.kid !== key.kid)
      return fail('the result is signed by another key (kid)');
    payload = JSON.parse(new TextDecoder().decode(r.payload)) as Record<string, unknown>;
    if (typeof payload !== 'object' || payload === null) throw new TypeError('payload');
  } catch {
    return fail('the result is not an ES256 JWS that verifies under the verifier key');
  }
  if (payload.iss !== issuer)
    return fail(`the result is issued by ${JSON.stringify(payload.iss)}, expected ${JSON.stringify(issuer)}`);
  // Seconds since 1970 before the year 5138: a time every Date can hold.
  const iat = payload.iat;
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0 || iat >= 1e11)
    return fail('the result has no valid "iat" claim');
  // Given the time, a result issued after it (beyond a minute of clock skew) is refused.
  if (now !== undefined && iat * 1000 > now.getTime() + 60_000)
    return fail(`the result was issued at ${iso(iat * 1000)}, after ${iso(now.getTime())}`);
  const sub = (payload.submods as Record<string, Record<string, unknown>> | undefined)?.['tmb-receipt'];
  if (payload.eat_profile !== EAR_PROFILE || typeof sub !== 'object' || sub === null)
    return fail('the result is not a TMB EAR');
  if (typeof sub['tmb.receipt-id'] !== 'string') return fail('the result names no receipt');
  const claims: BundleClaims = {
    iat,
    receiptId: sub['tmb.receipt-id'],
    level: sub['tmb.level'],
    ok: sub['tmb.ok'],
    checks: Array.isArray(sub['tmb.checks']) ? sub['tmb.checks'] : [],
    evidenceSha256: sub['tmb.evidence-sha256'],
    agentKey: sub['tmb.agent-key'],
    enrolment: sub['tmb.enrolment'],
    ak: sub['tmb.ak'],
  };
  return {
    check: {
      name: 'verifier.result',
      status: 'pass',
      detail: `EAR signed by the verifier key at ${iso(iat * 1000)}: ear.status ${text(sub['ear.status'])}, level ${text(sub['tmb.level'])}`,
    },
    claims,
  };
}
