import type { Cursor } from '../bytes/cursor.ts';
import type { HashName } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { readHashAlg } from './alg.ts';

/** One bank of a PCR selection: the bank's hash and the selected PCR indices, ascending. */
export interface PcrBank {
  hashAlg: number;
  hash: HashName;
  pcrs: number[];
}

/** At most one entry per hash algorithm this build knows (Part 2, HASH_COUNT). */
export const MAX_BANKS = 4;
/** PCR_SELECT_MAX of the TSS (32 PCRs): no TPM this project meets has more. */
export const MAX_SELECT_BYTES = 4;

/**
 * Reads a TPML_PCR_SELECTION (TPM 2.0 Part 2, 10.9.7) of TPMS_PCR_SELECTION (10.6.2), big-endian:
 * count, then per bank hash, sizeofSelect and a bitmap where bit `i % 8` of byte `i / 8` selects PCR i.
 * @throws ParseError TPM_PCR_SELECTION_INVALID (too many banks, a bank twice, bitmap too long),
 *   TPM_ALG_UNSUPPORTED, TRUNCATED
 */
export function readPcrSelection(c: Cursor, field: string): PcrBank[] {
  const countAt = c.offset;
  const count = c.u32be(`${field}.count`);
  if (count > MAX_BANKS)
    throw new ParseError(
      'TPM_PCR_SELECTION_INVALID',
      c.structure,
      `${field}.count`,
      countAt,
      `${count} banks, at most ${MAX_BANKS}`,
    );
  const banks: PcrBank[] = [];
  for (let i = 0; i < count; i++) {
    const f = `${field}.pcrSelections[${i}]`;
    const hashAt = c.offset;
    const { alg, hash } = readHashAlg(c, `${f}.hash`);
    if (banks.some((b) => b.hashAlg === alg))
      throw new ParseError(
        'TPM_PCR_SELECTION_INVALID',
        c.structure,
        `${f}.hash`,
        hashAt,
        `bank ${hash} twice`,
      );
    const sizeAt = c.offset;
    const size = c.u8(`${f}.sizeofSelect`);
    if (size > MAX_SELECT_BYTES)
      throw new ParseError(
        'TPM_PCR_SELECTION_INVALID',
        c.structure,
        `${f}.sizeofSelect`,
        sizeAt,
        `${size} bytes, at most ${MAX_SELECT_BYTES}`,
      );
    banks.push({ hashAlg: alg, hash, pcrs: bitmapToPcrs(c.take(size, `${f}.pcrSelect`)) });
  }
  return banks;
}

/** PCR indices selected by a pcrSelect bitmap, ascending. */
export function bitmapToPcrs(bitmap: Uint8Array): number[] {
  const pcrs: number[] = [];
  for (let i = 0; i < bitmap.length * 8; i++) if ((bitmap[i >> 3]! >> (i & 7)) & 1) pcrs.push(i);
  return pcrs;
}

/** Whether two selections name the same banks, in the same order, with the same PCRs. */
export function sameSelection(a: readonly PcrBank[], b: readonly PcrBank[]): boolean {
  return (
    a.length === b.length &&
    a.every((bank, i) => {
      const other = b[i]!;
      return (
        bank.hashAlg === other.hashAlg &&
        bank.pcrs.length === other.pcrs.length &&
        bank.pcrs.every((p, j) => p === other.pcrs[j])
      );
    })
  );
}

/** A selection as text for messages: `sha256:0,16,23`. */
export function selectionText(banks: readonly PcrBank[]): string {
  return banks.map((b) => `${b.hash}:${b.pcrs.join(',')}`).join('+') || '(none)';
}
