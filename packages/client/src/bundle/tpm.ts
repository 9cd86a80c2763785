import { type Check, CoreError, fromBase64Url, quoteCheck, sha256, toBase64, toHex, utf8 } from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import {
  type Attest,
  certificateSpan,
  checkEkCertificate,
  parsePcrsFile,
  parseTpm2bPublic,
  type TpmPublic,
  tpmName,
  verifyQuote,
} from '@tmb/core/tpm';
import type { ClientCheck } from '../types.ts';
import type { DecodedEvidence } from './decode.ts';
import { Memo } from './memo.ts';
import { pcrsFileCanonical } from './pcrs.ts';
import type { BundleClaims } from './result.ts';
import { iso, text } from './text.ts';
import type { BundleEvidence } from './types.ts';

// Parsed public areas by their base64url text: one object per key, so core's publicKeyOf
// (a WeakMap on the object) imports each AK and EK once for all receipts of a host.
const publics = new Memo<TpmPublic>(64);

/** The parsed TPM2B_PUBLIC of base64url `text`. @throws CoreError as parseTpm2bPublic */
export function tpmPublic(text: string): TpmPublic {
  return publics.get(text, () => parseTpm2bPublic(fromBase64Url(text)));
}

const pass = (name: string, detail: string): ClientCheck => ({ name, status: 'pass', detail });

/** The signed `tmb.ak` claim, when it has the expected shape. */
export function signedAk(
  c: BundleClaims,
): { name: string; activatedAt: number; ekPublicSha256: string } | null {
  const a = c.ak as Record<string, unknown> | null | undefined;
  if (typeof a !== 'object' || a === null) return null;
  if (typeof a.name !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(a.name)) return null;
  return {
    name: a.name,
    activatedAt: typeof a.activatedAt === 'number' ? a.activatedAt : Number.NaN,
    ekPublicSha256: typeof a.ekPublicSha256 === 'string' ? a.ekPublicSha256 : '',
  };
}

/** A check of the signed verdict, copied "per the verifier" and never above `asserted`. */
export function perVerifier(claims: BundleClaims, name: string, why: string): ClientCheck {
  const c = claims.checks.find((x) => (x as Check | null)?.name === name) as Check | undefined;
  if (c === undefined) return { name, status: 'skipped', detail: `the signed verdict has no ${name}` };
  const detail = `per the verifier (${why}): ${text(c.detail)}`;
  return c.status === 'fail'
    ? {
        name,
        status: 'fail',
        ...(typeof c.code === 'string' ? { code: c.code as Check['code'] } : {}),
        detail,
      }
    : // Never above asserted (the bundle cannot check it); a status of no known kind is skipped.
      { name, status: c.status === 'pass' || c.status === 'asserted' ? 'asserted' : 'skipped', detail };
}

/**
 * host.ek_certificate and host.ak_activated: the EK certificate chained here to `ekRoots`
 * (the bundle's chain as intermediates, validity at the EAR's `iat`) and certifying the EK
 * public area; without roots, the verifier's word (asserted). The AK's name, computed here from
 * its public area, must be the one the verifier signed as activated on that EK (`tmb.ak`).
 */
export function identityChecks(
  e: BundleEvidence,
  b: DecodedEvidence,
  claims: BundleClaims,
  ekRoots: readonly string[] | undefined,
): { checks: ClientCheck[]; akName: Uint8Array | null } {
  const out: ClientCheck[] = [];
  const ak = signedAk(claims);
  const ekSha = toHex(sha256(b.ekPublic));
  const ekMatches = ak === null || ak.ekPublicSha256 === '' || ak.ekPublicSha256 === ekSha;
  if (ekRoots === undefined || ekRoots.length === 0)
    out.push(perVerifier(claims, 'host.ek_certificate', 'no EK roots given'));
  else if (b.ekCertificate === null)
    out.push({
      name: 'host.ek_certificate',
      status: 'fail',
      code: 'EK_CERT_INVALID',
      detail: 'the bundle carries no EK certificate to chain to the given roots',
    });
  else {
    const at = new Date(claims.iat * 1000);
    const checks = ekChecks(e, b, ekRoots, at);
    const f = checks.find((c) => c.status === 'fail');
    out.push(
      f
        ? { ...f, name: 'host.ek_certificate' }
        : !ekMatches
          ? {
              name: 'host.ek_certificate',
              status: 'fail',
              code: 'EK_CERT_KEY_MISMATCH',
              detail: `the EK public area ${ekSha.slice(0, 16)}… is not the one the verifier enrolled (${ak?.ekPublicSha256.slice(0, 16)}…)`,
            }
          : pass('host.ek_certificate', `checked here: ${checks.map((c) => c.detail).join('; ')}`),
    );
  }
  let akName: Uint8Array | null = null;
  try {
    akName = tpmName(tpmPublic(e.ak.public));
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    out.push({
      name: 'host.ak_activated',
      status: 'fail',
      code: err.code,
      detail: `AK public area: ${err.message}`,
    });
    return { checks: out, akName: null };
  }
  if (ak === null) out.push(perVerifier(claims, 'host.ak_activated', 'the result has no tmb.ak claim'));
  else if (ak.name !== toHex(akName))
    out.push({
      name: 'host.ak_activated',
      status: 'fail',
      code: 'AK_NAME_MISMATCH',
      detail: `the bundle's AK has name ${toHex(akName).slice(0, 20)}…, the verifier activated ${ak.name.slice(0, 20)}…`,
    });
  else if (!ekMatches)
    out.push({
      name: 'host.ak_activated',
      status: 'fail',
      code: 'EK_CERT_KEY_MISMATCH',
      detail: 'the AK was activated on another EK than the bundle carries',
    });
  else
    out.push(
      pass(
        'host.ak_activated',
        `AK ${ak.name.slice(0, 20)}… (name computed here) activated on EK ${ekSha.slice(0, 16)}… at ${iso(ak.activatedAt)}, per the verifier's signed record`,
      ),
    );
  return { checks: out, akName };
}

/**
 * quote.signature, quote.nonce, quote.clock, quote.pcr_digest: core verifyQuote under the AK,
 * qualifying data = quoteQualifyingData(nonce, note, quoted members). That the nonce was fresh
 * only the verifier knows; here the quote is bound to it and to the note. Returns the quoted
 * sha256 PCR values when the digest verified.
 */
export function quoteChecks(b: DecodedEvidence, e: BundleEvidence, akName: Uint8Array | null): QuoteOutcome {
  const key = JSON.stringify([
    e.quote,
    e.quoted,
    e.inclusion.checkpoint,
    e.ak.public,
    e.appLog.pcr,
    akName && toHex(akName),
  ]);
  const r = quotes.get(key, () => quoteChecksOf(b, e, akName));
  return { ...r, checks: r.checks.map((c) => ({ ...c })) };
}

/** What quoteChecks gives: its checks, the quoted sha256 PCRs when the digest verified, the attestation. */
export interface QuoteOutcome {
  checks: ClientCheck[];
  pcrs: ReadonlyMap<number, Uint8Array> | null;
  attest: Attest | null;
}

// The checks of one quote by its exact bytes, note and AK: every receipt it judged shares them.
const quotes = new Memo<QuoteOutcome>(64, 'quote');

function quoteChecksOf(b: DecodedEvidence, e: BundleEvidence, akName: Uint8Array | null): QuoteOutcome {
  let qualifying: Uint8Array;
  try {
    qualifying = quoteQualifyingData(b.nonce, e.inclusion.checkpoint, e.quoted);
  } catch {
    qualifying = new Uint8Array(32);
  }
  let akPublic: Uint8Array | TpmPublic = b.akPublic;
  try {
    akPublic = tpmPublic(e.ak.public);
  } catch {
    // verifyQuote names the bad public area (tpm.ak.public).
  }
  const q = verifyQuote({
    attest: b.attest,
    signature: b.signature,
    akPublic,
    ...(akName ? { akName } : {}),
    pcrs: b.pcrs,
    requirePcrs: true,
    expectedQualifyingData: qualifying,
  });
  const ci = q.attest?.clockInfo;
  const checks: ClientCheck[] = [
    quoteCheck(
      q.checks,
      'quote.signature',
      `checked here: quote signed by the AK ${akName ? toHex(akName).slice(0, 16) : '?'}…`,
    ),
    quoteCheck(
      q.checks,
      'quote.nonce',
      `checked here: qualifying data = SHA-256(nonce ${toHex(b.nonce).slice(0, 16)}… ‖ checkpoint ‖ quoted members); the nonce's freshness per the verifier`,
    ),
    quoteCheck(
      q.checks,
      'quote.clock',
      ci
        ? `checked here: clock ${ci.clock} safe, resetCount ${ci.resetCount}, restartCount ${ci.restartCount}`
        : 'no clock',
    ),
  ];
  let digest = quoteCheck(
    q.checks,
    'quote.pcr_digest',
    'checked here: the PCR values match the quoted digest',
  );
  let pcrs: Map<number, Uint8Array> | null = null;
  if (digest.status === 'pass') {
    pcrs = new Map();
    try {
      const values = parsePcrsFile(b.pcrs);
      let i = 0;
      for (const bank of values.selection)
        for (const p of bank.pcrs) {
          const d = values.digests[i++];
          if (bank.hash === 'sha256' && d !== undefined) pcrs.set(p, d);
        }
    } catch {
      pcrs.clear();
    }
    const missing = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, e.appLog.pcr].filter((p) => !pcrs!.has(p));
    if (pcrs.size > 0 && (q.attest === null || !pcrsFileCanonical(b.pcrs, q.attest))) {
      digest = {
        name: 'quote.pcr_digest',
        status: 'fail',
        code: 'TPM_PCRS_FILE_INVALID',
        detail:
          'the PCR values file is not canonical: its selection is not the quoted one byte for byte, or it has non-zero bytes where tpm2-tools writes zeros',
      };
      pcrs = null;
    } else if (missing.length > 0) {
      digest = {
        name: 'quote.pcr_digest',
        status: 'fail',
        code: 'QUOTE_PCR_SELECTION_MISMATCH',
        detail: `the quote must select sha256 PCRs 0-10 and ${e.appLog.pcr}; it lacks ${missing.join(', ')}`,
      };
      pcrs = null;
    }
  }
  checks.push(digest);
  return { checks, pcrs, attest: q.attest };
}

// EK chain results by (EK public area, certificate, chain, roots), with the span in which every one of those
// certificates is valid: inside it the result does not depend on the time (chainTo reads the
// time only for validity), so the receipts of one host check their chain once.
const ekResults = new Memo<{ checks: Check[]; from: number; to: number }>(32);

function ekChecks(e: BundleEvidence, b: DecodedEvidence, roots: readonly string[], at: Date): Check[] {
  const key = toHex(sha256(utf8(JSON.stringify([e.ek.public, e.ek.certificate, e.ek.chain, roots]))));
  const hit = ekResults.get(key, () => ({ checks: [], from: 1, to: 0 }));
  const t = at.getTime();
  if (hit.from <= t && t <= hit.to) return hit.checks;
  const pem = (der: Uint8Array) =>
    `-----BEGIN CERTIFICATE-----\n${toBase64(der)}\n-----END CERTIFICATE-----\n`;
  let checks: Check[];
  try {
    checks = checkEkCertificate({
      certificate: b.ekCertificate!,
      ekPublic: tpmPublic(e.ek.public),
      roots,
      intermediates: b.ekChain.map(pem),
      at,
    });
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return [{ name: 'tpm.ek.key', status: 'fail', code: err.code, detail: `EK public area: ${err.message}` }];
  }
  // The span every certificate given is valid in (none parses: no span, nothing kept).
  let from: number;
  let to: number;
  try {
    ({ from, to } = certificateSpan([
      b.ekCertificate!,
      ...b.ekChain,
      ...roots.flatMap((r) => r.split(/(?=-----BEGIN CERTIFICATE-----)/).filter((x) => x.includes('BEGIN'))),
    ]));
  } catch {
    [from, to] = [1, 0];
  }
  if (from <= t && t <= to) Object.assign(hit, { checks, from, to });
  return checks;
}
