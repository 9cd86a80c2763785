import { fromBase64Url, fromUtf8, utf8 } from '@tmb/core';
import type { ClientCheck } from './types.ts';

const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

/**
 * Checks the verifier's EAR result (an ES256 JWT, docs/result.md) against the verifier key the
 * caller trusts: signature, algorithm, profile, and that it speaks of this receipt. WebCrypto
 * only, so it runs in a browser too. Never throws: a bad result is a failed `verifier.result`.
 */
export async function checkResult(
  jwt: unknown,
  key: JsonWebKey & { kid?: string },
  receiptId: string,
): Promise<ClientCheck> {
  const fail = (detail: string): ClientCheck => ({
    name: 'verifier.result',
    status: 'fail',
    code: 'RESULT_INVALID',
    detail,
  });
  if (typeof jwt !== 'string') return fail('the verifier sent no signed result');
  const parts = jwt.split('.');
  if (parts.length !== 3) return fail('the result is not a compact JWS');
  const [h, p, s] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  let sig: Uint8Array;
  try {
    header = JSON.parse(fromUtf8(fromBase64Url(h))) as Record<string, unknown>;
    claims = JSON.parse(fromUtf8(fromBase64Url(p))) as Record<string, unknown>;
    sig = fromBase64Url(s);
  } catch {
    return fail('the result does not decode');
  }
  if (header.alg !== 'ES256') return fail(`result algorithm ${String(header.alg)}, expected ES256`);
  if (key.kid !== undefined && header.kid !== key.kid) return fail('the result is signed by another key');
  let valid: boolean;
  try {
    const k = await crypto.subtle.importKey('jwk', key, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'verify',
    ]);
    valid = await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      k,
      sig as BufferSource,
      utf8(`${h}.${p}`) as BufferSource,
    );
  } catch {
    return fail('the verifier key is not a usable P-256 JWK');
  }
  if (!valid) return fail('the result signature does not verify under the verifier key');
  const sub = (claims.submods as Record<string, Record<string, unknown>> | undefined)?.['tmb-receipt'];
  if (claims.eat_profile !== EAR_PROFILE || sub === undefined) return fail('the result is not a TMB EAR');
  if (sub['tmb.receipt-id'] !== receiptId)
    return fail(`the result is about receipt ${String(sub['tmb.receipt-id'])}`);
  return {
    name: 'verifier.result',
    status: 'pass',
    detail: `EAR signed by the verifier key: ear.status ${String(sub['ear.status'])}, level ${String(sub['tmb.level'])}`,
  };
}
