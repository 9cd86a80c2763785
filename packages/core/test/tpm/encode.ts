import { concat } from '../../src/bytes/encoding.ts';

// Test-only encoders of TPM structures, big-endian, for building public areas around software keys.

export const u16 = (n: number) => new Uint8Array([n >> 8, n & 0xff]);
export const u32 = (n: number) => new Uint8Array([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
export const tpm2b = (b: Uint8Array) => concat(u16(b.length), b);

/** EK attributes of the TCG default template: fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy, restricted, decrypt. */
export const EK_ATTRIBUTES = 0x000300b2;

/** A TPMT_PUBLIC of an RSA storage key (AES-128-CFB, scheme NULL) around `modulus`. */
export function rsaStoragePublic(modulus: Uint8Array, attributes = EK_ATTRIBUTES): Uint8Array {
  return concat(
    u16(0x0001),
    u16(0x000b),
    u32(attributes),
    tpm2b(new Uint8Array(32)),
    u16(0x0006),
    u16(128),
    u16(0x0043),
    u16(0x0010),
    u16(modulus.length * 8),
    u32(0),
    tpm2b(modulus),
  );
}

/** A TPMT_PUBLIC of an ECC P-256 storage key (AES-128-CFB, scheme and KDF NULL) around (x, y). */
export function eccStoragePublic(x: Uint8Array, y: Uint8Array, attributes = EK_ATTRIBUTES): Uint8Array {
  return concat(
    u16(0x0023),
    u16(0x000b),
    u32(attributes),
    tpm2b(new Uint8Array(32)),
    u16(0x0006),
    u16(128),
    u16(0x0043),
    u16(0x0010),
    u16(0x0003),
    u16(0x0010),
    tpm2b(x),
    tpm2b(y),
  );
}
