/**
 * Whether a tpm2-tools PCR values file (`tpm2_quote -o`, core parsePcrsFile) is in its canonical
 * form: every byte core's parser does not read (unused selection slots and padding, unused
 * digest slots and the tails of digest buffers) is zero. tpm2-tools writes its C structures
 * zero-initialised, so a file it wrote is canonical; a bundle's must be, or bytes that carry
 * nothing could be changed under the evidence digest unnoticed (docs/bundle.md). Call only
 * after parsePcrsFile accepted the bytes; lengths are the layout's (pcrfile.ts).
 */
export function pcrsFileCanonical(bytes: Uint8Array): boolean {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const used = new Uint8Array(bytes.length);
  const mark = (at: number, n: number) => used.fill(1, at, Math.min(at + n, bytes.length));
  const banks = dv.getUint32(0, true);
  mark(0, 4);
  for (let i = 0; i < banks; i++) {
    const at = 4 + i * 8;
    mark(at, 3 + bytes[at + 2]!);
  }
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
