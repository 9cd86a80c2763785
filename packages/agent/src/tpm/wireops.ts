import { ParseError } from '@tmb/core';
import { type PcrValues, parsePcrsFile } from '@tmb/core/tpm';
import { TpmDriverError } from './errors.ts';
import type { QuoteOutput } from './options.ts';
import {
  type PcrSelect,
  pcrExtendCommand,
  pcrExtendResponse,
  pcrReadCommand,
  pcrReadResponse,
  quoteCommand,
  quoteResponse,
} from './pcrcmd.ts';
import type { TpmWire } from './wire.ts';

// The driver's hot commands over its resident connection, giving what the tool path gives:
// a quote is TPM2_Quote then TPM2_PCR_Read until every selected PCR is read (as tpm2_quote 5.4
// does: quote first, values after), the values written in tpm2_quote -o's serialization, byte for
// byte (core's pcrfile.ts describes it; test/tpm/wire.test.ts compares it with the tool's file).

const HASH_ALG = { sha256: 0x000b, sha384: 0x000c } as const;
/** tpm2-tools reads at most TPM2_MAX_PCRS (32) TPML_DIGEST lists for one selection. */
const MAX_READS = 32;
const TSS_BANKS = 16;
const LIST_SLOTS = 8;

/** A selection of one bank, as the driver takes it. */
export function bankSelect(bank: 'sha256' | 'sha384', pcrs: readonly number[]): PcrSelect[] {
  return [{ hashAlg: HASH_ALG[bank], pcrs: [...new Set(pcrs)].sort((a, b) => a - b) }];
}

/**
 * TPM2_PCR_Read until every PCR of `banks` is read (a TPM answers at most 8 a time, and says
 * which in pcrSelectionOut). Returns each answer's digests, in order.
 * @throws TpmDriverError from the wire, TPM_TOOL_FAILED (a bank the TPM does not read),
 *   TPM_RESPONSE_INVALID (an answer naming PCRs not asked for)
 */
export async function readPcrs(wire: TpmWire, banks: readonly PcrSelect[]): Promise<Uint8Array[][]> {
  const left = banks.map((b) => ({ hashAlg: b.hashAlg, pcrs: new Set(b.pcrs) }));
  const lists: Uint8Array[][] = [];
  while (left.some((b) => b.pcrs.size > 0)) {
    if (lists.length === MAX_READS)
      throw new TpmDriverError('TPM_RESPONSE_INVALID', 'TPM2_PCR_Read: too many reads');
    const ask = left.filter((b) => b.pcrs.size > 0).map((b) => ({ hashAlg: b.hashAlg, pcrs: [...b.pcrs] }));
    const out = pcrReadResponse(await wire.send(pcrReadCommand(ask)));
    if (out.digests.length === 0)
      throw new TpmDriverError('TPM_TOOL_FAILED', 'TPM2_PCR_Read: the TPM reads none of the PCRs asked for');
    for (const got of out.selection)
      for (const p of got.pcrs)
        if (left.find((b) => b.hashAlg === got.hashAlg)?.pcrs.delete(p) !== true)
          throw new TpmDriverError('TPM_RESPONSE_INVALID', `TPM2_PCR_Read: PCR ${p} not asked for`);
    lists.push(out.digests);
  }
  return lists;
}

/**
 * The PCR values file of `tpm2_quote -o` (tpm2-tools 5.4's in-memory structures, little-endian,
 * unused slots zero): the selection asked for, then one TPML_DIGEST per TPM2_PCR_Read answer.
 */
export function pcrsFile(banks: readonly PcrSelect[], lists: readonly Uint8Array[][]): Uint8Array {
  const out = new Uint8Array(4 + TSS_BANKS * 8 + 4 + lists.length * (4 + LIST_SLOTS * 66));
  const v = new DataView(out.buffer);
  v.setUint32(0, banks.length, true);
  banks.forEach((b, i) => {
    v.setUint16(4 + i * 8, b.hashAlg, true);
    out[4 + i * 8 + 2] = 3;
    for (const p of b.pcrs) out[4 + i * 8 + 3 + (p >> 3)]! |= 1 << (p & 7);
  });
  let at = 4 + TSS_BANKS * 8;
  v.setUint32(at, lists.length, true);
  at += 4;
  for (const list of lists) {
    v.setUint32(at, list.length, true);
    list.forEach((d, i) => {
      v.setUint16(at + 4 + i * 66, d.length, true);
      out.set(d, at + 4 + i * 66 + 2);
    });
    at += 4 + LIST_SLOTS * 66;
  }
  return out;
}

/** parsePcrsFile over bytes the TPM sent: a digest of the wrong size for its bank is theirs. */
function values(file: Uint8Array): PcrValues {
  try {
    return parsePcrsFile(file);
  } catch (err) {
    if (err instanceof ParseError)
      throw new TpmDriverError('TPM_RESPONSE_INVALID', `TPM2_PCR_Read: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * A quote by the AK at `handle` over `banks` with `qualifyingData`, then the PCR values: what
 * tpm2_quote -m -s -o gives. The caller checks the signature, nonce and PCR digest (ak.ts
 * signedBy): a PCR extended between the quote and the read makes the digest disagree.
 * @throws TpmDriverError TPM_TOOL_FAILED (the TPM's error code: handle empty...), wire errors
 */
export async function quoteOverWire(
  wire: TpmWire,
  handle: number,
  banks: readonly PcrSelect[],
  qualifyingData: Uint8Array,
): Promise<QuoteOutput> {
  const { attest, signature } = quoteResponse(await wire.send(quoteCommand(handle, qualifyingData, banks)));
  const file = pcrsFile(banks, await readPcrs(wire, banks));
  return { attest, signature, pcrsFile: file, pcrValues: values(file) };
}

/** Current values of `banks`' PCRs by index (one bank). */
export async function pcrValuesOverWire(
  wire: TpmWire,
  banks: readonly PcrSelect[],
): Promise<Map<number, Uint8Array>> {
  const v = values(pcrsFile(banks, await readPcrs(wire, banks)));
  const out = new Map<number, Uint8Array>();
  for (const [i, p] of (v.selection[0]?.pcrs ?? []).entries()) out.set(p, v.digests[i]!);
  return out;
}

/** TPM2_PCR_Extend of a SHA-256 bank PCR. */
export async function extendOverWire(wire: TpmWire, pcr: number, sha256Digest: Uint8Array): Promise<void> {
  pcrExtendResponse(await wire.send(pcrExtendCommand(pcr, sha256Digest)));
}

/**
 * How the driver's hot commands reach the TPM, decided once: `wire` when the TPM answers one
 * TPM2_PCR_Read of no PCR on the resident connection, else `tools` (`wanted` 'auto'); `wanted`
 * 'tools' never tries the wire.
 * @throws TpmDriverError TPM_UNAVAILABLE when `wanted` is 'wire' and the TPM does not answer on it
 */
export async function chooseTransport(
  wire: TpmWire,
  wanted: 'auto' | 'wire' | 'tools',
  tcti: string,
): Promise<'wire' | 'tools'> {
  if (wanted === 'tools') return 'tools';
  try {
    pcrReadResponse(await wire.send(pcrReadCommand([])));
    return 'wire';
  } catch (err) {
    wire.release();
    if (wanted === 'wire')
      throw new TpmDriverError('TPM_UNAVAILABLE', `the TPM at ${tcti} does not answer on the wire`, {
        cause: err,
      });
    return 'tools';
  }
}

/** PCR values by index from `tpm2_pcrread`'s text output (the tool path of TpmDriver.pcrRead). */
export function pcrreadValues(stdout: string): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const m of stdout.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/gm))
    out.set(Number(m[1]), Uint8Array.from(Buffer.from(m[2]!, 'hex')));
  return out;
}
