import type { KeyObject } from 'node:crypto';
import { bytesEqual, toHex } from '../bytes/encoding.ts';
import { digest, type HashName } from '../crypto/hash.ts';
import { type SignatureKind, verifySignature } from '../crypto/keys.ts';
import { CoreError, type CoreErrorCode } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { akAttributeProblem, publicKeyOf, publicKeyOfPem } from './akey.ts';
import { hashName, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, TpmAlg } from './alg.ts';
import { type Attest, attestBody, type ClockInfo, parseAttest } from './attest.ts';
import { type PcrValues, parsePcrsFile } from './pcrfile.ts';
import { parseTpm2bPublic, type TpmPublic, tpmName } from './public.ts';
import { sameSelection, selectionText } from './selection.ts';
import { parseSignature, type TpmSignature } from './signature.ts';

/** What verifyQuote checks. Every byte field is untrusted evidence. */
export interface QuoteInput {
  /** TPMS_ATTEST (`tpm2_quote -m`) or TPM2B_ATTEST bytes. */
  attest: Uint8Array;
  /** TPMT_SIGNATURE bytes (`tpm2_quote -s`). */
  signature: Uint8Array;
  /** The AK: TPM2B_PUBLIC bytes, its parsed public area, or PEM (then no scheme or attributes are known). */
  akPublic: Uint8Array | TpmPublic | string;
  /**
   * The enrolled AK's name (nameAlg || H(TPMT_PUBLIC)). Given, the AK public area must have this
   * name (an AK given as PEM then fails: it has no name). Left out, the AK is not compared (skipped).
   */
  akName?: Uint8Array;
  /** PCR values: parsed, or the bytes of `tpm2_quote -o`. Left out, the PCR digest is not recomputed (skipped). */
  pcrs?: PcrValues | Uint8Array;
  /** The qualifying data the verifier asked for (the nonce, or SHA-256(nonce || checkpoint)). */
  expectedQualifyingData: Uint8Array;
  /** When true, a quote without `pcrs` fails (QUOTE_PCRS_MISSING) instead of skipping the digest check. */
  requirePcrs?: boolean;
  /** The clock of this AK's previous accepted quote. Left out, monotonicity is not checked (skipped). */
  previousClock?: ClockInfo;
}

/** verifyQuote's answer: `ok` when no check failed; the parsed attestation when it parsed. */
export interface QuoteResult {
  ok: boolean;
  checks: Check[];
  attest: Attest | null;
}

const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
const fail = (name: string, code: CoreErrorCode, detail: string): Check => ({
  name,
  status: 'fail',
  code,
  detail,
});
const skip = (name: string, detail: string): Check => ({ name, status: 'skipped', detail });

function errorCheck(name: string, err: unknown): Check {
  if (err instanceof CoreError) return fail(name, err.code, err.message);
  throw err;
}

const KINDS: Record<number, SignatureKind> = {
  [TpmAlg.ECDSA]: 'ecdsa',
  [TpmAlg.RSASSA]: 'rsassa',
  [TpmAlg.RSAPSS]: 'rsapss',
};

/** r or s as a fixed-size big-endian integer, or null when it does not fit. */
function fixed(v: Uint8Array, size: number): Uint8Array | null {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  if (v.length - i > size) return null;
  const out = new Uint8Array(size);
  out.set(v.subarray(i), size - (v.length - i));
  return out;
}

function checkSignature(body: Uint8Array, sig: TpmSignature, key: KeyObject, ak: TpmPublic | null): Check {
  const name = 'tpm.quote.signature';
  if (ak !== null && ak.scheme.scheme !== TpmAlg.NULL) {
    if (ak.scheme.scheme !== sig.sigAlg || ak.scheme.hashAlg !== sig.hashAlg)
      return fail(
        name,
        'QUOTE_SIGNATURE_SCHEME_MISMATCH',
        `AK scheme 0x${ak.scheme.scheme.toString(16)}/${hashName(ak.scheme.hashAlg ?? 0)}, signature 0x${sig.sigAlg.toString(16)}/${sig.hash}`,
      );
  }
  let raw: Uint8Array | null;
  if (sig.sigAlg === TpmAlg.ECDSA) {
    const jwk = key.asymmetricKeyDetails?.namedCurve;
    const size = jwk === 'prime256v1' ? 32 : jwk === 'secp384r1' ? 48 : 0;
    const r = fixed(sig.r, size);
    const s = fixed(sig.s, size);
    raw = size === 0 || r === null || s === null ? null : new Uint8Array([...r, ...s]);
  } else raw = sig.sig;
  if (raw !== null && verifySignature(KINDS[sig.sigAlg]!, key, sig.hash, body, raw))
    return pass(name, `${KINDS[sig.sigAlg]}/${sig.hash} signature by the AK verifies`);
  return fail(
    name,
    'QUOTE_SIGNATURE_INVALID',
    `${KINDS[sig.sigAlg]}/${sig.hash} signature does not verify under the AK`,
  );
}

function checkPcrs(
  attest: Attest,
  given: PcrValues | Uint8Array | undefined,
  hash: HashName,
  required: boolean,
): Check[] {
  const quote = attest.quote!;
  if (given === undefined && required)
    return [fail('tpm.quote.pcrs', 'QUOTE_PCRS_MISSING', 'no PCR values came with the quote')];
  if (given === undefined)
    return [skip('tpm.quote.pcrs', 'no PCR values given; the PCR digest was not recomputed')];
  let values: PcrValues;
  try {
    values = given instanceof Uint8Array ? parsePcrsFile(given) : given;
  } catch (err) {
    return [errorCheck('tpm.quote.pcrs', err)];
  }
  if (!sameSelection(values.selection, quote.pcrSelect))
    return [
      fail(
        'tpm.quote.pcrs',
        'QUOTE_PCR_SELECTION_MISMATCH',
        `quote selects ${selectionText(quote.pcrSelect)}, values are for ${selectionText(values.selection)}`,
      ),
    ];
  // TPM 2.0 Part 3, 18.4 TPM2_Quote: pcrDigest = H_sign(PCR values concatenated in selection order).
  const computed = digest(hash, ...values.digests);
  if (!bytesEqual(computed, quote.pcrDigest))
    return [
      fail(
        'tpm.quote.pcrs',
        'QUOTE_PCR_DIGEST_MISMATCH',
        `quote's pcrDigest ${toHex(quote.pcrDigest)}, the values give ${toHex(computed)}`,
      ),
    ];
  return [pass('tpm.quote.pcrs', `PCR values ${selectionText(quote.pcrSelect)} match the quoted digest`)];
}

function checkClock(now: ClockInfo, prev: ClockInfo | undefined): Check[] {
  const out: Check[] = [
    now.safe
      ? pass('tpm.quote.safe', 'clock is safe')
      : fail('tpm.quote.safe', 'QUOTE_CLOCK_UNSAFE', 'safe is NO: the TPM clock may have gone back'),
  ];
  if (prev === undefined) return [...out, skip('tpm.quote.clock', 'no previous quote to compare with')];
  const name = 'tpm.quote.clock';
  const at = `now reset ${now.resetCount} restart ${now.restartCount} clock ${now.clock}, before reset ${prev.resetCount} restart ${prev.restartCount} clock ${prev.clock}`;
  if (now.resetCount < prev.resetCount) out.push(fail(name, 'QUOTE_RESET_COUNT_REGRESSED', at));
  else if (now.resetCount === prev.resetCount && now.restartCount < prev.restartCount)
    out.push(fail(name, 'QUOTE_RESTART_COUNT_REGRESSED', at));
  // Strictly after: an equal clock is the same quote again (a replay).
  else if (now.clock <= prev.clock) out.push(fail(name, 'QUOTE_CLOCK_REGRESSED', at));
  else out.push(pass(name, at));
  return out;
}

/**
 * Verifies a TPM2_Quote: the AK public area, magic (TPM_GENERATED_VALUE), type
 * (TPM_ST_ATTEST_QUOTE), qualifying data, the signature under the AK's scheme, the PCR
 * selection and digest recomputed from the given values, `safe`, and that the clock, resetCount
 * and restartCount did not go back since `previousClock`. Never throws for bad evidence: every
 * failure is a check naming its code; `ok` is true only when no check failed.
 *
 * @example
 *   const { ok, checks } = verifyQuote({ attest, signature, akPublic, pcrs, expectedQualifyingData: nonce });
 */
export function verifyQuote(input: QuoteInput): QuoteResult {
  const checks: Check[] = [];
  let ak: TpmPublic | null = null;
  let key: KeyObject | null = null;
  try {
    if (typeof input.akPublic === 'string') key = publicKeyOfPem(input.akPublic);
    else {
      ak = input.akPublic instanceof Uint8Array ? parseTpm2bPublic(input.akPublic) : input.akPublic;
      key = publicKeyOf(ak);
    }
    checks.push(pass('tpm.ak.public', ak === null ? 'AK given as PEM' : `AK is ${ak.type.toUpperCase()}`));
  } catch (err) {
    checks.push(errorCheck('tpm.ak.public', err));
  }
  if (input.akName === undefined) checks.push(skip('tpm.ak.enrolled', 'no enrolled AK name given'));
  else if (ak !== null && bytesEqual(tpmName(ak), input.akName))
    checks.push(pass('tpm.ak.enrolled', 'AK is the enrolled one'));
  else
    checks.push(
      fail(
        'tpm.ak.enrolled',
        'AK_NAME_MISMATCH',
        ak === null
          ? 'AK given without a public area: its name cannot be computed'
          : `AK name ${toHex(tpmName(ak))}, enrolled ${toHex(input.akName)}`,
      ),
    );
  if (ak === null) checks.push(skip('tpm.ak.attributes', 'AK given as PEM: attributes unknown'));
  else {
    const problem = akAttributeProblem(ak);
    checks.push(
      problem === null
        ? pass('tpm.ak.attributes', 'restricted signing key fixed to its TPM')
        : fail('tpm.ak.attributes', 'AK_ATTRIBUTES_INVALID', problem),
    );
  }

  const body = attestBody(input.attest);
  let attest: Attest | null = null;
  try {
    attest = parseAttest(input.attest);
    checks.push(pass('tpm.quote.format', 'TPMS_ATTEST parsed'));
  } catch (err) {
    checks.push(errorCheck('tpm.quote.format', err));
  }
  const magic = body.length >= 4 ? new DataView(body.buffer, body.byteOffset, 4).getUint32(0, false) : null;
  checks.push(
    magic === TPM_GENERATED_VALUE
      ? pass('tpm.quote.magic', 'TPM_GENERATED_VALUE')
      : fail(
          'tpm.quote.magic',
          'QUOTE_MAGIC_INVALID',
          `magic ${magic?.toString(16) ?? 'missing'}, expected ff544347`,
        ),
  );
  const type = body.length >= 6 ? (body[4]! << 8) | body[5]! : null;
  checks.push(
    type === TPM_ST_ATTEST_QUOTE
      ? pass('tpm.quote.type', 'TPM_ST_ATTEST_QUOTE')
      : fail(
          'tpm.quote.type',
          'QUOTE_TYPE_INVALID',
          `type ${type?.toString(16) ?? 'missing'}, expected 8018`,
        ),
  );
  if (attest === null) checks.push(skip('tpm.quote.nonce', 'attestation did not parse'));
  else if (bytesEqual(attest.extraData, input.expectedQualifyingData))
    checks.push(pass('tpm.quote.nonce', 'qualifying data is the one asked for'));
  else
    checks.push(
      fail(
        'tpm.quote.nonce',
        'QUOTE_NONCE_MISMATCH',
        `extraData ${toHex(attest.extraData)}, expected ${toHex(input.expectedQualifyingData)}`,
      ),
    );

  let sig: TpmSignature | null = null;
  try {
    sig = parseSignature(input.signature);
  } catch (err) {
    checks.push(errorCheck('tpm.quote.signature', err));
  }
  if (sig !== null) {
    if (key === null) checks.push(skip('tpm.quote.signature', 'no usable AK'));
    else checks.push(checkSignature(body, sig, key, ak));
  }

  if (attest?.quote == null) checks.push(skip('tpm.quote.pcrs', 'no quote info to check PCRs against'));
  else {
    const hash = sig?.hash ?? (attest.quote.pcrDigest.length === 48 ? 'sha384' : 'sha256');
    checks.push(...checkPcrs(attest, input.pcrs, hash, input.requirePcrs === true));
  }
  if (attest === null) checks.push(skip('tpm.quote.clock', 'attestation did not parse'));
  else checks.push(...checkClock(attest.clockInfo, input.previousClock));
  return { ok: checks.every((c) => c.status !== 'fail'), checks, attest };
}
