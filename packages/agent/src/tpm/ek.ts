/**
 * The EKs the driver uses, at their TCG EK Credential Profile / Provisioning Guidance handles:
 * RSA-2048 at 0x81010001 (certificate in NV 0x01c00002), ECC P-256 at 0x81010002 (0x01c0000a).
 */
export const EK = {
  rsa: { handle: '0x81010001', nv: '0x01c00002', alg: 'rsa' },
  ecc: { handle: '0x81010002', nv: '0x01c0000a', alg: 'ecc' },
} as const;

/** The length of one DER value at the start of `b` (NV indices pad certificates), or b.length. */
export function derLength(b: Uint8Array): number {
  if (b.length < 2 || b[0] !== 0x30) return b.length;
  const first = b[1]!;
  if (first < 0x80) return Math.min(b.length, 2 + first);
  const n = first & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (b[2 + i] ?? 0);
  return Math.min(b.length, 2 + n + len);
}
