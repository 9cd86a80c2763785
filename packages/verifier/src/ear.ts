import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { toBase64Url, type Verdict } from '@tmb/core';
import { type JWTPayload, SignJWT } from 'jose';
import { VerifierError } from './errors.ts';

/** The EAR base profile (draft-ietf-rats-ear section 3). */
export const EAR_PROFILE = 'tag:github.com,2023:veraison/ear';

/** The submodule name under which a TMB receipt's appraisal sits in `submods`. */
export const EAR_SUBMOD = 'tmb-receipt';

/** The `iss` of results when none is configured; the client expects it unless told otherwise. */
export const EAR_ISSUER = 'tmb-verifier';

/** Seconds from `iat` to `exp` when none is configured. */
export const EAR_TTL_SECONDS = 300;

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

/** How results are signed; every field has a safe default. */
export interface ResultSignerOptions {
  /** `ear.verifier-id.build`. Default `tmb-verifier 0.1.0`. */
  build?: string;
  /** The `iss` claim. Default {@link EAR_ISSUER}; clients reject a result with another issuer. */
  issuer?: string;
  /**
   * Seconds a result is valid (`exp` = `iat` + this; `nbf` = `iat`). Default 300: the verdict is
   * recomputed on every read, so a client always gets a fresh one, and a short life limits how
   * long an old verdict (say, from before a key was found compromised) can be replayed.
   */
  ttlSeconds?: number;
}

/**
 * What a result binds besides the verdict (docs/result.md, "Bound members"): digests and copies
 * of the unsigned members of a receipt answer, so that a client checks each one it uses against
 * the signed result instead of trusting the network between it and the verifier.
 */
export interface ResultBinding {
  /** Lower-case hex SHA-256 of the receipt body bytes as stored (`tmb.receipt-sha256`). */
  receiptSha256: string;
  /** base64url raw Ed25519 key the receipt names, as enrolled, or null (`tmb.agent-key`). */
  agentKey: string | null;
  /** The enrolment of the key the receipt was accepted under, or null (`tmb.enrolment`). */
  enrolment: { agent: string; keyId: string; enrolledAt: number } | null;
  /** Hex SHA-256 of core canonicalBytes(answer.attestation), or null (`tmb.attestation-sha256`). */
  attestationSha256: string | null;
  /** The agent's activated AK: hex name, activation time (ms), hex SHA-256 of the EK public area. */
  ak: { name: string; activatedAt: number; ekPublicSha256: string } | null;
  /** Hex SHA-256 of canonicalBytes(bundle evidence), only in a bundle's EAR (`tmb.evidence-sha256`, docs/bundle.md). */
  evidenceSha256?: string;
}

/** Signs attestation results for one verifier instance. */
export interface ResultSigner {
  jwk: ResultKeyJwk;
  /** The `iss` of every result this signer issues. */
  issuer: string;
  /**
   * The EAR JWT for a verdict and what it binds, issued at `now` (default: now), signed with
   * jose's SignJWT.
   */
  issue(verdict: Verdict, binding: ResultBinding, now?: Date): Promise<string>;
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
 * Results are JWS compact serialisations made by jose (RFC 7518 ES256: r ‖ s), docs/result.md.
 * @throws VerifierError VERIFIER_CONFIG_INVALID when the PEM is not a P-256 private key or an
 *   option is out of range.
 */
export function createResultSigner(pem?: string, options: ResultSignerOptions = {}): ResultSigner {
  const build = options.build ?? 'tmb-verifier 0.1.0';
  const issuer = options.issuer ?? EAR_ISSUER;
  const ttl = options.ttlSeconds ?? EAR_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'result ttlSeconds must be a positive integer');
  }
  const key = loadKey(pem);
  const pub = createPublicKey(key).export({ format: 'jwk' }) as { x: string; y: string };
  // RFC 7638 thumbprint: SHA-256 of the required members in lexical order, no whitespace.
  const thumb = JSON.stringify({ crv: 'P-256', kty: 'EC', x: pub.x, y: pub.y });
  const kid = toBase64Url(new Uint8Array(createHash('sha256').update(thumb).digest()));
  const jwk: ResultKeyJwk = { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, kid, alg: 'ES256', use: 'sig' };
  const header = { alg: 'ES256', kid, typ: 'JWT' } as const;
  const cryptoKey = key.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const claims = (verdict: Verdict, b: ResultBinding, now: Date): JWTPayload => {
    const iat = Math.floor(now.getTime() / 1000);
    return {
      eat_profile: EAR_PROFILE,
      iss: issuer,
      iat,
      nbf: iat,
      exp: iat + ttl,
      'ear.verifier-id': { developer: 'https://github.com/trust-me-bro', build },
      submods: {
        [EAR_SUBMOD]: {
          'ear.status': earStatus(verdict),
          'tmb.level': verdict.level,
          'tmb.receipt-id': verdict.receiptId,
          'tmb.request-id': verdict.requestId,
          'tmb.checks': verdict.checks,
          'tmb.ok': verdict.ok,
          'tmb.host': verdict.host ?? null,
          // Optional member of a verdict for an agent with an enrolled AK (EK trust roots).
          'tmb.tpm': (verdict as Verdict & { tpm?: unknown }).tpm ?? null,
          'tmb.receipt-sha256': b.receiptSha256,
          'tmb.agent-key': b.agentKey,
          'tmb.enrolment': b.enrolment,
          'tmb.attestation-sha256': b.attestationSha256,
          'tmb.ak': b.ak,
          ...(b.evidenceSha256 === undefined ? {} : { 'tmb.evidence-sha256': b.evidenceSha256 }),
        },
      },
    };
  };
  return {
    jwk,
    issuer,
    issue: (verdict, binding, now = new Date()) =>
      new SignJWT(claims(verdict, binding, now)).setProtectedHeader(header).sign(cryptoKey),
  };
}

function loadKey(pem: string | undefined): KeyObject {
  if (pem === undefined) return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'result key is not a PEM private key', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'result key must be an EC P-256 key');
  }
  return key;
}

/** A result key file is a PKCS#8 PEM of about 240 bytes; anything past this is not one. */
const MAX_KEY_FILE_BYTES = 16 * 1024;

/**
 * The verifier's persistent EAR signing key (docs/deploy.md, "The verifier key"): reads the
 * PKCS#8 PEM at `path`, or creates it there once (EC P-256, mode 0600) when there is none, so
 * results signed before a restart still verify under the key clients pinned. Creation is
 * atomic and exclusive (written to a temporary file, then hard-linked into place): two
 * verifiers starting on one folder end with one key, and a crash never leaves half a key.
 * A key file that others may read or write (any of mode 0077) is refused: whoever can read it
 * can sign results.
 * @returns the PEM, and whether it was created now.
 * @throws VerifierError VERIFIER_CONFIG_INVALID for a key file open to others, too large, or not
 *   an EC P-256 PKCS#8 PEM (the message names the path, never the key)
 */
export async function loadOrCreateResultKey(path: string): Promise<{ pem: string; created: boolean }> {
  const existing = await readKeyFile(path);
  if (existing !== null) return { pem: existing, created: false };
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const f = await open(tmp, 'wx', 0o600);
  try {
    await f.writeFile(pem);
    await f.sync();
  } finally {
    await f.close();
  }
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another verifier created it first: use that one.
    const theirs = await readKeyFile(path);
    if (theirs === null) throw err;
    return { pem: theirs, created: false };
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return { pem, created: true };
}

async function readKeyFile(path: string): Promise<string | null> {
  let f: Awaited<ReturnType<typeof open>>;
  try {
    f = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const st = await f.stat();
    if ((st.mode & 0o077) !== 0)
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        `result key ${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    if (st.size > MAX_KEY_FILE_BYTES)
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        `result key ${path} is over ${MAX_KEY_FILE_BYTES} bytes`,
      );
    const pem = await f.readFile('utf8');
    loadKey(pem); // refuse a file that is not a P-256 key now, naming the path
    return pem;
  } catch (err) {
    if (err instanceof VerifierError && !err.message.includes(path))
      throw new VerifierError('VERIFIER_CONFIG_INVALID', `${path}: ${err.message}`, { cause: err });
    throw err;
  } finally {
    await f.close();
  }
}
