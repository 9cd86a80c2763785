import { Cursor } from '../bytes/cursor.ts';
import { HASH_SIZE } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { hashName, unsupported } from './alg.ts';
import { bitmapToPcrs, MAX_BANKS, MAX_SELECT_BYTES, type PcrBank } from './selection.ts';

/** PCR values: a selection and one digest per selected PCR, in selection order (bank, then PCR). */
export interface PcrValues {
  selection: PcrBank[];
  digests: Uint8Array[];
}

// tpm2-tools 5.4 `tpm2_quote -o` (and `tpm2_pcrread -o` with `-F serialized`) write the C
// structures from tss2_tpm2_types.h as they lie in memory, in the host's byte order
// (little-endian on x86-64 and arm64, the only hosts we support): checked byte for byte on files
// from tpm2_quote 5.4 on swtpm 0.7 (packages/core/test/vectors/tpm/).
//   TPML_PCR_SELECTION   u32 count; 16 x TPMS_PCR_SELECTION { u16 hash; u8 sizeofSelect;
//                        u8 pcrSelect[4]; u8 padding }                         = 132 bytes
//   u32 n                number of TPML_DIGEST structures that follow
//   n x TPML_DIGEST      u32 count; 8 x TPM2B_DIGEST { u16 size; u8 buffer[64] } = 532 bytes each
const TSS_NUM_PCR_BANKS = 16;
const SELECTION_BYTES = 4 + TSS_NUM_PCR_BANKS * 8;
const DIGESTS_PER_LIST = 8;
const LIST_BYTES = 4 + DIGESTS_PER_LIST * 66;
/** Every PCR of every bank: 4 banks x 32 PCRs in lists of 8. */
const MAX_LISTS = (MAX_BANKS * MAX_SELECT_BYTES * 8) / DIGESTS_PER_LIST;

function invalid(c: Cursor, field: string, at: number, detail: string): ParseError {
  return new ParseError('TPM_PCRS_FILE_INVALID', c.structure, field, at, detail);
}

/**
 * Parses the PCR values file `tpm2_quote -o FILE` writes (tpm2-tools' own serialization, above).
 * Unused selection slots and digest buffers are not read.
 * @throws ParseError TPM_PCRS_FILE_INVALID (counts or sizes disagree), TPM_ALG_UNSUPPORTED,
 *   TRUNCATED, TRAILING_BYTES
 */
export function parsePcrsFile(bytes: Uint8Array): PcrValues {
  const c = new Cursor(bytes, 'tpm2-tools PCR file');
  c.need(SELECTION_BYTES, 'pcrSelect');
  const count = c.u32le('pcrSelect.count');
  if (count > MAX_BANKS) throw invalid(c, 'pcrSelect.count', 0, `${count} banks, at most ${MAX_BANKS}`);
  const selection: PcrBank[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * 8;
    c.offset = at;
    const alg = c.u16le(`pcrSelect.pcrSelections[${i}].hash`);
    const hash = hashName(alg);
    if (hash === undefined) throw unsupported(c, `pcrSelect.pcrSelections[${i}].hash`, at, alg);
    if (selection.some((b) => b.hashAlg === alg)) throw invalid(c, 'pcrSelect', at, `bank ${hash} twice`);
    const size = c.u8(`pcrSelect.pcrSelections[${i}].sizeofSelect`);
    if (size > MAX_SELECT_BYTES) throw invalid(c, 'sizeofSelect', at + 2, `${size} bytes, at most 4`);
    selection.push({ hashAlg: alg, hash, pcrs: bitmapToPcrs(c.take(size, 'pcrSelect')) });
  }
  c.offset = SELECTION_BYTES;
  const listsAt = c.offset;
  const lists = c.u32le('digests.count');
  if (lists > MAX_LISTS) throw invalid(c, 'digests.count', listsAt, `${lists} lists, at most ${MAX_LISTS}`);
  // Expected digest sizes, in selection order.
  const sizes = selection.flatMap((b) => b.pcrs.map(() => HASH_SIZE[b.hash]));
  const digests: Uint8Array[] = [];
  for (let l = 0; l < lists; l++) {
    const start = c.offset;
    c.need(LIST_BYTES, `digests[${l}]`);
    const n = c.u32le(`digests[${l}].count`);
    if (n > DIGESTS_PER_LIST) throw invalid(c, `digests[${l}].count`, start, `${n} digests, at most 8`);
    for (let d = 0; d < n; d++) {
      const at = start + 4 + d * 66;
      c.offset = at;
      const size = c.u16le(`digests[${l}].digests[${d}].size`);
      const want = sizes[digests.length];
      if (size !== want)
        throw invalid(
          c,
          `digests[${l}].digests[${d}].size`,
          at,
          `size ${size}, expected ${want ?? 'no more digests'}`,
        );
      digests.push(c.take(size, `digests[${l}].digests[${d}].buffer`));
    }
    c.offset = start + LIST_BYTES;
  }
  if (digests.length !== sizes.length)
    throw invalid(c, 'digests', listsAt, `${digests.length} digests for ${sizes.length} selected PCRs`);
  c.end();
  return { selection, digests };
}
