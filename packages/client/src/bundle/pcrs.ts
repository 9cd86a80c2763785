import type { Attest } from '@tmb/core/tpm';

/**
 * Whether a tpm2-tools PCR values file (`tpm2_quote -o`, core parsePcrsFile) is in its canonical
 * form: its selection is the quote's byte for byte (bank order, hash, sizeofSelect and bitmap, as
 * the signed, parsed TPMS_ATTEST `attest` carries it), and every byte core's parser does not read (unused
 * selection slots and padding, unused digest slots and the tails of digest buffers) is zero.
 * tpm2-tools writes the selection it quoted and its C structures zero-initialised, so a file it
 * wrote is canonical; a bundle's must be, or bytes that carry nothing (a sizeofSelect of 2 or 4
 * for a 3-byte bitmap that selects the same PCRs) could be changed under the evidence digest
 * unnoticed (docs/bundle.md). Call only after parsePcrsFile accepted the bytes and verifyQuote
 * parsed `attest` as a quote; lengths are the layout's (pcrfile.ts).
 */
export function pcrsFileCanonical(bytes: Uint8Array, attest: Attest): boolean {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const used = new Uint8Array(bytes.length);
  const mark = (at: number, n: number) => used.fill(1, at, Math.min(at + n, bytes.length));
  const banks = dv.getUint32(0, true);
  mark(0, 4);
  // The file's TPML_PCR_SELECTION re-encoded as the TPM marshals it (big-endian).
  const selection: number[] = [banks >>> 24, (banks >>> 16) & 0xff, (banks >>> 8) & 0xff, banks & 0xff];
  for (let i = 0; i < banks; i++) {
    const at = 4 + i * 8;
    const size = bytes[at + 2]!;
    mark(at, 3 + size);
    selection.push(bytes[at + 1]!, bytes[at]!, size, ...bytes.subarray(at + 3, at + 3 + size));
  }
  if (!quotedSelectionIs(attest, selection)) return false;
  let at = 4 + 16 * 8;
  const lists = dv.getUint32(at, true);
  mark(at, 4);
  at += 4;
  for (let l = 0; l < lists; l++, at += 4 + 8 * 66) {
    const n = dv.getUint32(at, true);
    mark(at, 4);
    for (let d = 0; d < n; d++) {
      const s = at + 4 + d * 66;
      mark(s, 2 + dv.getUint16(s, true));
    }
  }
  for (let i = 0; i < bytes.length; i++) if (used[i] === 0 && bytes[i] !== 0) return false;
  return true;
}

/**
 * Whether a quote's TPMS_ATTEST holds exactly `selection` as its TPML_PCR_SELECTION: a quote's
 * TPMS_QUOTE_INFO (pcrSelect, then the TPM2B pcrDigest) is the last member of the attestation,
 * and parseAttest rejects trailing bytes, so the selection ends where the digest's size field
 * starts (Part 2, 10.12.4 and 10.12.12).
 */
function quotedSelectionIs(attest: Attest, selection: readonly number[]): boolean {
  if (attest.quote === null) return false;
  const from = attest.bytes.length - 2 - attest.quote.pcrDigest.length - selection.length;
  return from >= 0 && selection.every((x, i) => attest.bytes[from + i] === x);
}
