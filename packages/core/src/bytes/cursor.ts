import { ParseError } from '../errors.ts';

/**
 * A bounds-checked reader over untrusted bytes. Every read names the structure and
 * field it reads, so a failure says where it happened. Byte order is named at each
 * read: `u16be` for TPM structures, `u32le` for the IMA binary log on x86, and so on.
 */
export class Cursor {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly structure: string;
  offset: number;

  constructor(bytes: Uint8Array, structure: string, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.structure = structure;
    this.offset = offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  /** Throws TRUNCATED unless `n` more bytes are there. */
  need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new ParseError(
        'TRUNCATED',
        this.structure,
        field,
        this.offset,
        `need ${n} bytes, ${this.remaining} left`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }

  u16be(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }

  u32be(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }

  u64be(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.offset, false);
    this.offset += 8;
    return v;
  }

  u16le(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32le(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  u64le(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** A view (not a copy) of the next `n` bytes. */
  take(n: number, field: string): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ParseError('LENGTH_TOO_LARGE', this.structure, field, this.offset, `invalid length ${n}`);
    }
    this.need(n, field);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /**
   * Reads a length (already decoded by the caller) and checks it against a cap and the
   * bytes left **before** anything is allocated, then takes that many bytes.
   */
  sized(length: number, cap: number, field: string): Uint8Array {
    if (length > cap) {
      throw new ParseError(
        'LENGTH_TOO_LARGE',
        this.structure,
        field,
        this.offset,
        `length ${length} over the cap of ${cap}`,
      );
    }
    return this.take(length, field);
  }

  /** Throws TRAILING_BYTES unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new ParseError(
        'TRAILING_BYTES',
        this.structure,
        'end',
        this.offset,
        `${this.remaining} unexpected trailing bytes`,
      );
    }
  }
}
