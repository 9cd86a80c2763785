import { readFile } from 'node:fs/promises';
import { bytesEqual } from '@tmb/core';
import {
  akAttributeProblem,
  hashName,
  type PcrValues,
  parseTpm2bPublic,
  TpmAlg,
  type TpmPublic,
  tpmName,
  verifyQuote,
} from '@tmb/core/tpm';

/** The AK key and signing scheme: tpm2_createak's -G/-g/-s. ECC P-256 with ECDSA/SHA-256 is the default. */
export type AkAlg = 'ecc256' | 'ecc384' | 'rsassa' | 'rsapss';

/** tpm2_createak's arguments for each AkAlg. */
export const AK_ARGS: Record<AkAlg, string[]> = {
  ecc256: ['-G', 'ecc256', '-g', 'sha256', '-s', 'ecdsa'],
  ecc384: ['-G', 'ecc384', '-g', 'sha384', '-s', 'ecdsa'],
  rsassa: ['-G', 'rsa', '-g', 'sha256', '-s', 'rsassa'],
  rsapss: ['-G', 'rsa', '-g', 'sha256', '-s', 'rsapss'],
};

/**
 * The persistent handle the driver keeps its AK at unless told otherwise: in the owner's
 * persistent range (0x81000000-0x817FFFFF, TPM 2.0 Part 2, 7.4), outside the TCG-reserved SRK
 * (0x810000xx) and EK (0x8101xxxx) blocks of the Provisioning Guidance. Agents sharing one TPM
 * need one handle each (TpmDriverOptions.akHandle).
 */
export const DEFAULT_AK_HANDLE = 0x81000a4b;

/** A handle as tpm2-tools takes it: `0x81000a4b`. */
export function handleText(handle: number): string {
  return `0x${handle.toString(16).padStart(8, '0')}`;
}

/** The driver's AK as it holds it: TPM2B_PUBLIC bytes, parsed, its name and quote arguments. */
export interface HeldAk {
  public: Uint8Array;
  parsed: TpmPublic;
  name: Uint8Array;
  /** tpm2_quote's -g/--scheme: a restricted key signs only with its own scheme. */
  quoteArgs: string[];
}

/** Reads an AK's TPM2B_PUBLIC file (tpm2_createak -u) into a HeldAk. */
export async function readHeldAk(path: string): Promise<HeldAk> {
  const bytes = new Uint8Array(await readFile(path));
  const parsed = parseTpm2bPublic(bytes);
  const hash = hashName(parsed.scheme.hashAlg ?? TpmAlg.SHA256) ?? 'sha256';
  const quoteArgs = ['-g', hash];
  if (parsed.scheme.scheme === TpmAlg.RSAPSS) quoteArgs.push('--scheme', 'rsapss');
  return { public: bytes, parsed, name: tpmName(parsed), quoteArgs };
}

/**
 * What to do with the object found at the AK's persistent handle: `reuse` it (it is this AK:
 * same name), `replace` it (absent, or another AK: a restricted signing key, taken as an earlier
 * or another agent's AK at the documented handle) or `refuse` to touch it (any other key is
 * somebody else's: the driver then loads its AK per quote).
 */
export function handleVerdict(found: TpmPublic | null, ak: HeldAk): 'reuse' | 'replace' | 'refuse' {
  if (found === null) return 'replace';
  if (bytesEqual(tpmName(found), ak.name)) return 'reuse';
  return akAttributeProblem(found) === null ? 'replace' : 'refuse';
}

/**
 * Whether a quote was signed by `ak` over `qualifyingData` (about 0.1 ms with the AK held
 * parsed): the driver checks every quote made with the persistent handle, since another program
 * can replace what the handle holds between two quotes. With `pcrs`, also, also
 * whether the quoted PCR digest is theirs: tpm2_quote checks this itself; the wire path
 * (wireops.ts) reads the values after the quote, so an extend in between is caught here.
 */
export function signedBy(
  q: { attest: Uint8Array; signature: Uint8Array; pcrValues?: PcrValues },
  ak: HeldAk,
  qualifyingData: Uint8Array,
  pcrs = false,
): boolean {
  const r = verifyQuote({
    attest: q.attest,
    signature: q.signature,
    akPublic: ak.parsed,
    expectedQualifyingData: qualifyingData,
    ...(pcrs ? { pcrs: q.pcrValues, requirePcrs: true } : {}),
  });
  const passed = (name: string) => r.checks.find((c) => c.name === name)?.status === 'pass';
  return passed('tpm.quote.signature') && passed('tpm.quote.nonce') && (!pcrs || passed('tpm.quote.pcrs'));
}
