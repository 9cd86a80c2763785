import { TpmDriverError } from './errors.ts';
import { command, responseParameters, TPM_ALG_NULL, TPM_ST_NO_SESSIONS, tpm2b, u16, u32 } from './raw.ts';

// The hot commands the driver sends over its resident connection (wire.ts), marshalled here
// rather than by a tool: TPM2_Quote, TPM2_PCR_Read and TPM2_PCR_Extend (TPM 2.0 Part 3, 18.4,
// 22.4, 22.2; structures Part 2). Responses come from the TPM: untrusted bytes, parsed with every
// length checked, failing with TpmDriverError TPM_RESPONSE_INVALID.

const TPM_CC_QUOTE = 0x00000158;
const TPM_CC_PCR_READ = 0x0000017e;
const TPM_CC_PCR_EXTEND = 0x00000182;
const TPM_ALG_SHA256 = 0x000b;
/** tpm2-tools selects PCRs 0..23: three bitmap bytes (sizeofSelect 3), as the quote's attest echoes it. */
const SELECT_BYTES = 3;
const EMPTY = new Uint8Array(0);

/** One bank of a PCR selection: the hash algorithm id and PCR indices (0..23). */
export interface PcrSelect {
  hashAlg: number;
  pcrs: readonly number[];
}

function invalid(what: string, detail: string): TpmDriverError {
  return new TpmDriverError('TPM_RESPONSE_INVALID', `${what}: ${detail}`);
}

/** TPML_PCR_SELECTION (Part 2, 10.9.7) with sizeofSelect 3. */
export function pcrSelection(banks: readonly PcrSelect[]): number[] {
  const out = u32(banks.length);
  for (const b of banks) {
    const bits = new Array<number>(SELECT_BYTES).fill(0);
    for (const p of b.pcrs) {
      if (!Number.isInteger(p) || p < 0 || p >= SELECT_BYTES * 8)
        throw new RangeError(`PCR ${p} is not 0..23`);
      bits[p >> 3]! |= 1 << (p & 7);
    }
    out.push(...u16(b.hashAlg), SELECT_BYTES, ...bits);
  }
  return out;
}

/**
 * TPM2_Quote (Part 3, 18.4) by `signer` (an AK with an empty authValue: one empty password
 * session) over `banks` with `qualifyingData`, inScheme NULL (a restricted key signs with its own).
 */
export function quoteCommand(
  signer: number,
  qualifyingData: Uint8Array,
  banks: readonly PcrSelect[],
): Uint8Array {
  return command(
    TPM_CC_QUOTE,
    [signer],
    [EMPTY],
    [...tpm2b(qualifyingData), ...u16(TPM_ALG_NULL), ...pcrSelection(banks)],
  );
}

/** TPM2_Quote's parameters: TPM2B_ATTEST, then TPMT_SIGNATURE (the rest of the parameter area). */
export function quoteResponse(res: Uint8Array): { attest: Uint8Array; signature: Uint8Array } {
  const p = responseParameters(res, 'TPM2_Quote');
  const size = p.length >= 2 ? (p[0]! << 8) | p[1]! : -1;
  if (size < 0 || 2 + size > p.length) throw invalid('TPM2_Quote', 'quoted past the parameters');
  if (2 + size + 6 > p.length) throw invalid('TPM2_Quote', 'no signature after quoted');
  return { attest: p.slice(2, 2 + size), signature: p.slice(2 + size) };
}

/** TPM2_PCR_Read (Part 3, 22.4): no sessions. */
export function pcrReadCommand(banks: readonly PcrSelect[]): Uint8Array {
  const body = [...u32(TPM_CC_PCR_READ), ...pcrSelection(banks)];
  return new Uint8Array([...u16(TPM_ST_NO_SESSIONS), ...u32(6 + body.length), ...body]);
}

/** What one TPM2_PCR_Read returned: which PCRs (pcrSelectionOut) and their values in that order. */
export interface PcrReadOut {
  selection: PcrSelect[];
  /** TPM2B_DIGEST buffers of pcrValues (at most 8, TPML_DIGEST). */
  digests: Uint8Array[];
}

/**
 * Parses TPM2_PCR_Read's response: pcrUpdateCounter, TPML_PCR_SELECTION (at most 16 banks, 4
 * bitmap bytes each), TPML_DIGEST (at most 8 digests of at most 64 bytes), nothing after.
 * @throws TpmDriverError TPM_TOOL_FAILED (the TPM's error code), TPM_RESPONSE_INVALID
 */
export function pcrReadResponse(res: Uint8Array): PcrReadOut {
  const p = responseParameters(res, 'TPM2_PCR_Read', false);
  let at = 4; // pcrUpdateCounter
  const need = (n: number, field: string) => {
    if (at + n > p.length) throw invalid('TPM2_PCR_Read', `${field} past the response`);
  };
  const rd16 = () => (p[at++]! << 8) | p[at++]!;
  const rd32 = () => ((p[at++]! << 24) >>> 0) + (p[at++]! << 16) + (p[at++]! << 8) + p[at++]!;
  need(4, 'pcrUpdateCounter');
  need(4, 'pcrSelectionOut.count');
  const banks = rd32();
  if (banks > 16) throw invalid('TPM2_PCR_Read', `${banks} banks, at most 16`);
  const selection: PcrSelect[] = [];
  for (let i = 0; i < banks; i++) {
    need(3, 'pcrSelectionOut');
    const hashAlg = rd16();
    const n = p[at++]!;
    if (n > 4) throw invalid('TPM2_PCR_Read', `sizeofSelect ${n}, at most 4`);
    need(n, 'pcrSelect');
    const pcrs: number[] = [];
    for (let j = 0; j < n * 8; j++) if ((p[at + (j >> 3)]! >> (j & 7)) & 1) pcrs.push(j);
    at += n;
    selection.push({ hashAlg, pcrs });
  }
  need(4, 'pcrValues.count');
  const count = rd32();
  if (count > 8) throw invalid('TPM2_PCR_Read', `${count} digests, at most 8`);
  const digests: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    need(2, `pcrValues[${i}].size`);
    const size = rd16();
    if (size > 64) throw invalid('TPM2_PCR_Read', `a digest of ${size} bytes, at most 64`);
    need(size, `pcrValues[${i}]`);
    digests.push(p.slice(at, at + size));
    at += size;
  }
  if (at !== p.length) throw invalid('TPM2_PCR_Read', `${p.length - at} bytes after pcrValues`);
  const selected = selection.reduce((n, b) => n + b.pcrs.length, 0);
  if (selected !== count) throw invalid('TPM2_PCR_Read', `${count} digests for ${selected} selected PCRs`);
  return { selection, digests };
}

/** TPM2_PCR_Extend (Part 3, 22.2) of a SHA-256 bank PCR: an empty password session on the PCR handle. */
export function pcrExtendCommand(pcr: number, sha256Digest: Uint8Array): Uint8Array {
  if (sha256Digest.length !== 32) throw new RangeError('a SHA-256 digest is 32 bytes');
  return command(TPM_CC_PCR_EXTEND, [pcr], [EMPTY], [...u32(1), ...u16(TPM_ALG_SHA256), ...sha256Digest]);
}

/** Checks TPM2_PCR_Extend's response (no parameters). @throws TpmDriverError as responseParameters */
export function pcrExtendResponse(res: Uint8Array): void {
  const p = responseParameters(res, 'TPM2_PCR_Extend');
  if (p.length !== 0) throw invalid('TPM2_PCR_Extend', `${p.length} parameter bytes, expected none`);
}
