import {
  type CryptoKey,
  decodeProtectedHeader,
  errors,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { type BoundResult, readBound } from './bound.ts';
import type { ClientCheck } from './types.ts';

const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

/** How {@link checkResult} judges a result's claims. */
export interface ResultCheckOptions {
  /** The `iss` the result must carry. Default `tmb-verifier`, what the verifier signs by default. */
  issuer?: string;
  /**
   * Seconds of clock skew allowed between verifier and client when checking `nbf` and `exp`.
   * Default 60: a result lives 300 s, and hosts kept by NTP are well within a minute.
   */
  clockTolerance?: number;
  /** The time to check `nbf` and `exp` against. Default: now. */
  now?: Date;
}

// Imported verifier keys by their public members, so one configured key is imported once, not
// per response. Bounded: a client normally trusts one verifier key.
const MAX_KEYS = 16;
const keys = new Map<string, Promise<CryptoKey>>();

class KidMismatch extends Error {}

/**
 * Checks the verifier's EAR result (an ES256 JWT, docs/result.md) with jose against the verifier
 * key the caller trusts: only ES256 is accepted (no `none`, no HMAC keyed with the public key),
 * the `kid` must be the key's when the key has one, `typ` JWT, `iss` the expected issuer, `iat`
 * and `exp` present, `nbf`/`exp` hold within the clock tolerance, the EAR profile, and that it
 * speaks of this receipt. jose's WebCrypto build, so it runs in a browser too. Never throws: a
 * bad result is a failed `verifier.result` (RESULT_INVALID).
 */
export async function checkResult(
  jwt: unknown,
  key: JWK,
  receiptId: string,
  options: ResultCheckOptions = {},
): Promise<ClientCheck> {
  return (await verifyResult(jwt, key, receiptId, options)).check;
}

/**
 * checkResult, and the signed members the client relies on (bound.ts): level, ok, checks, host,
 * tpm, and the digests of the answer's unsigned members. `bound` is null whenever `check` failed;
 * a result that verifies but lacks a bound member is RESULT_INVALID too (a verifier before
 * issue 9 signed only the level). Never throws.
 */
export async function verifyResult(
  jwt: unknown,
  key: JWK,
  receiptId: string,
  options: ResultCheckOptions = {},
): Promise<{ check: ClientCheck; bound: BoundResult | null }> {
  const fail = (detail: string) => ({
    check: { name: 'verifier.result', status: 'fail', code: 'RESULT_INVALID', detail } as ClientCheck,
    bound: null,
  });
  if (typeof jwt !== 'string') return fail('the verifier sent no signed result');
  const issuer = options.issuer ?? 'tmb-verifier';
  const tolerance = options.clockTolerance ?? 60;
  let verifyKey: CryptoKey;
  try {
    verifyKey = await importVerifierKey(key);
  } catch {
    return fail('the verifier key is not a usable P-256 JWK');
  }
  let claims: JWTPayload;
  try {
    const verified = await jwtVerify(
      jwt,
      (header) => {
        if (key.kid !== undefined && header.kid !== key.kid) throw new KidMismatch();
        return verifyKey;
      },
      {
        algorithms: ['ES256'],
        typ: 'JWT',
        issuer,
        requiredClaims: ['iat', 'exp'],
        clockTolerance: tolerance,
        ...(options.now === undefined ? {} : { currentDate: options.now }),
      },
    );
    claims = verified.payload;
  } catch (err) {
    return fail(explain(err, jwt, issuer, tolerance));
  }
  const sub = (claims.submods as Record<string, Record<string, unknown>> | undefined)?.['tmb-receipt'];
  if (claims.eat_profile !== EAR_PROFILE || typeof sub !== 'object' || sub === null)
    return fail('the result is not a TMB EAR');
  if (sub['tmb.receipt-id'] !== receiptId)
    return fail(`the result is about receipt ${String(sub['tmb.receipt-id'])}`);
  const bound = readBound(sub);
  if (typeof bound === 'string') return fail(bound);
  return {
    check: {
      name: 'verifier.result',
      status: 'pass',
      detail: `EAR signed by the verifier key: ear.status ${String(sub['ear.status'])}, level ${bound.level}`,
    },
    bound,
  };
}

/** The P-256 public key of a JWK (only kty, crv, x, y are read: never `d`), imported once. */
function importVerifierKey(jwk: JWK): Promise<CryptoKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    return Promise.reject(new TypeError('not an EC P-256 JWK'));
  }
  const id = `${jwk.x}.${jwk.y}`;
  let p = keys.get(id);
  if (p === undefined) {
    p = importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256') as Promise<CryptoKey>;
    p.catch(() => keys.delete(id));
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value as string);
    keys.set(id, p);
  }
  return p;
}

/** One sentence for a jose failure; jose's messages name no attacker bytes, but ours say more. */
function explain(err: unknown, jwt: string, issuer: string, tolerance: number): string {
  if (err instanceof KidMismatch) return 'the result is signed by another key (kid)';
  if (err instanceof errors.JOSEAlgNotAllowed) {
    let alg = 'unknown';
    try {
      alg = String(decodeProtectedHeader(jwt).alg);
    } catch {
      // The header decoded for jose, so this is not reached; keep "unknown" if it is.
    }
    return `result algorithm ${alg}, only ES256 is accepted`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return 'the result signature does not verify under the verifier key';
  if (err instanceof errors.JWTExpired) {
    return `the result expired at ${date(err.payload.exp)} (clock tolerance ${tolerance} s)`;
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return `the result has no "${err.claim}" claim`;
    if (err.claim === 'nbf')
      return `the result is not valid before ${date(err.payload.nbf)} (clock tolerance ${tolerance} s)`;
    if (err.claim === 'iss')
      return `the result is issued by ${JSON.stringify(err.payload.iss)}, expected ${JSON.stringify(issuer)}`;
    if (err.claim === 'typ') return 'the result is not typed JWT';
    return `the result's "${err.claim}" claim does not hold`;
  }
  return 'the result is not a well-formed ES256 JWT';
}

function date(seconds: unknown): string {
  const d = typeof seconds === 'number' ? new Date(seconds * 1000) : null;
  return d !== null && Number.isFinite(d.getTime()) ? d.toISOString() : String(seconds);
}
