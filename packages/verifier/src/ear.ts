import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { toBase64Url, utf8, type Verdict } from '@tmb/core';
import { VerifierError } from './errors.ts';

/** The EAR base profile (draft-ietf-rats-ear section 3). */
export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

/** The submodule name under which a TMB receipt's appraisal sits in `submods`. */
export const EAR_SUBMOD = 'tmb-receipt';

/** The verifier's public result key as a JWK (RFC 7517), with its RFC 7638 thumbprint as `kid`. */
export interface ResultKeyJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/** Signs attestation results for one verifier instance. */
export interface ResultSigner {
  jwk: ResultKeyJwk;
  /** The EAR JWT for a verdict, issued now. */
  sign(verdict: Verdict, now?: Date): string;
}

/**
 * `ear.status` (draft-ietf-rats-ear, section 3.2, the AR4SI tiers) for a verdict:
 * a failed check is `contraindicated`; L0 (a signed receipt only: the hardware and model are
 * not proven) is `warning`; L1 and above `affirming`; nothing failed but no level is `none`.
 */
export function earStatus(v: Verdict): 'none' | 'affirming' | 'warning' | 'contraindicated' {
  if (!v.ok) return 'contraindicated';
  if (v.level === 'none') return 'none';
  return v.level === 'L0' ? 'warning' : 'affirming';
}

/**
 * A result signer over an ES256 (P-256) key: the PKCS#8 PEM key given, or one generated now.
 * Hand-written JWS (RFC 7515 compact, RFC 7518 ES256: r ‖ s, 64 bytes) because `jose` is not
 * installed in this tree; switch to jose's SignJWT when it is (docs/result.md).
 * @throws VerifierError VERIFIER_CONFIG_INVALID when the PEM is not a P-256 private key.
 */
export function createResultSigner(pem?: string, build = 'tmb-verifier 0.1.0'): ResultSigner {
  let key: KeyObject;
  if (pem === undefined) {
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  } else {
    try {
      key = createPrivateKey(pem);
    } catch (cause) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'result key is not a PEM private key', { cause });
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'result key must be an EC P-256 key');
    }
  }
  const pub = createPublicKey(key).export({ format: 'jwk' }) as { x: string; y: string };
  // RFC 7638 thumbprint: SHA-256 of the required members in lexical order, no whitespace.
  const thumb = JSON.stringify({ crv: 'P-256', kty: 'EC', x: pub.x, y: pub.y });
  const kid = toBase64Url(new Uint8Array(createHash('sha256').update(thumb).digest()));
  const jwk: ResultKeyJwk = { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' };
  const header = b64json({ alg: 'ES256', kid, typ: 'JWT' });
  return {
    jwk,
    sign(verdict, now = new Date()) {
      const payload = b64json({
        eat_profile: EAR_PROFILE,
        iat: Math.floor(now.getTime() / 1000),
        'ear.verifier-id': { developer: 'https://github.com/trust-me-bro', build },
        submods: {
          [EAR_SUBMOD]: {
            'ear.status': earStatus(verdict),
            'tmb.level': verdict.level,
            'tmb.receipt-id': verdict.receiptId,
            'tmb.request-id': verdict.requestId,
            'tmb.checks': verdict.checks,
          },
        },
      });
      const input = `${header}.${payload}`;
      const sig = sign('sha256', utf8(input), { key, dsaEncoding: 'ieee-p1363' });
      return `${input}.${toBase64Url(new Uint8Array(sig))}`;
    },
  };
}

function b64json(value: unknown): string {
  return toBase64Url(utf8(JSON.stringify(value)));
}
