import { bytesEqual, toHex } from '../bytes/encoding.ts';
import { digest, type HashName } from '../crypto/hash.ts';
import type { PublicKey } from '../crypto/keys.ts';
import type { Check } from '../verdict/types.ts';
import { akAttributeProblem, publicKeyOf, publicKeyOfPem } from './akey.ts';
import { TPM_ST_ATTEST_QUOTE } from './alg.ts';
import type { Attest, ClockInfo } from './attest.ts';
import {
  type AttestedKind,
  akSignatureCheck,
  attestHeaderChecks,
  errorCheck,
  fail,
  pass,
  skip,
} from './attested.ts';
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

const QUOTE: AttestedKind = {
  prefix: 'tpm.quote',
  type: TPM_ST_ATTEST_QUOTE,
  typeName: 'TPM_ST_ATTEST_QUOTE',
  codes: {
    magic: 'QUOTE_MAGIC_INVALID',
    type: 'QUOTE_TYPE_INVALID',
    nonce: 'QUOTE_NONCE_MISMATCH',
    scheme: 'QUOTE_SIGNATURE_SCHEME_MISMATCH',
    signature: 'QUOTE_SIGNATURE_INVALID',
  },
  nonceDetail: 'qualifying data is the one asked for',
};

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
  let key: PublicKey | null = null;
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

  const header = attestHeaderChecks(input.attest, input.expectedQualifyingData, QUOTE);
  const { attest, body } = header;
  checks.push(...header.checks);

  let sig: TpmSignature | null = null;
  try {
    sig = parseSignature(input.signature);
  } catch (err) {
    checks.push(errorCheck('tpm.quote.signature', err));
  }
  if (sig !== null) {
    if (key === null) checks.push(skip('tpm.quote.signature', 'no usable AK'));
    else checks.push(akSignatureCheck(body, sig, key, ak, QUOTE));
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
