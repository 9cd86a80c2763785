import { Cursor } from '../bytes/cursor.ts';
import { toHex } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import type { BootEvent } from './types.ts';

/** EFI_GLOBAL_VARIABLE (UEFI 2.10, 3.3): SecureBoot, PK, KEK. */
export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** EFI_IMAGE_SECURITY_DATABASE_GUID (UEFI 2.10, 32.6.1): db, dbx. */
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
/** EFI_CERT_SHA256_GUID and EFI_CERT_X509_GUID (UEFI 2.10, 32.4.1). */
export const EFI_CERT_SHA256 = 'c1c41626-504c-4092-aca9-41f936934328';
export const EFI_CERT_X509 = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';

/** UEFI_VARIABLE_DATA (PFP 10.4.4.1), decoded. */
export interface UefiVariable {
  guid: string;
  name: string;
  data: Uint8Array;
}

/** Largest UTF-16 variable name read (UEFI names are short: "SecureBoot", "db", "Boot0001"). */
const MAX_NAME_CHARS = 1024;

/** An EFI_GUID in its registry form: Data1-3 little-endian, Data4 in byte order (UEFI 2.10, App. A). */
export function guidString(b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const tail = toHex(b.subarray(8, 16));
  return `${h(v.getUint32(0, true), 8)}-${h(v.getUint16(4, true), 4)}-${h(v.getUint16(6, true), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

/** Runs a reader over an event's data, reporting offsets from the log's start. */
function within<T>(e: BootEvent, structure: string, read: (c: Cursor) => T): T {
  const c = new Cursor(e.data, structure);
  try {
    const out = read(c);
    c.end();
    return out;
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    throw new ParseError(
      'BOOT_EVENT_MALFORMED',
      err.structure,
      err.field,
      err.offset + e.dataOffset,
      `${err.code}: ${err.message.slice(err.message.indexOf(': ') + 2)}`,
    );
  }
}

/**
 * Decodes the UEFI_VARIABLE_DATA of an EV_EFI_VARIABLE_* event: VariableName GUID, then
 * UnicodeNameLength and VariableDataLength (UINT64, little-endian, in characters and bytes), the
 * UTF-16LE name and the data (a view, no copy).
 *
 * @throws ParseError BOOT_EVENT_MALFORMED (the inner cursor code in the message) with the offset
 */
export function decodeVariable(e: BootEvent): UefiVariable {
  return within(e, 'UEFI_VARIABLE_DATA', (c) => {
    const guid = guidString(c.take(16, 'VariableName'));
    const nameLength = c.u64le('UnicodeNameLength'); // attacker-controlled
    const dataLength = c.u64le('VariableDataLength'); // attacker-controlled
    if (nameLength > BigInt(MAX_NAME_CHARS))
      throw new ParseError(
        'LENGTH_TOO_LARGE',
        c.structure,
        'UnicodeNameLength',
        c.offset - 16,
        `${nameLength} characters`,
      );
    if (dataLength > BigInt(c.remaining))
      throw new ParseError(
        'LENGTH_TOO_LARGE',
        c.structure,
        'VariableDataLength',
        c.offset - 8,
        `${dataLength} bytes`,
      );
    const name = utf16(c.take(Number(nameLength) * 2, 'UnicodeName'));
    return { guid, name, data: c.take(Number(dataLength), 'VariableData') };
  });
}

/** UTF-16LE text, a trailing NUL dropped (firmware writes some strings with one). */
export function utf16(b: Uint8Array): string {
  const s = new TextDecoder('utf-16le').decode(b);
  return s.endsWith('\0') ? s.slice(0, -1) : s;
}

/**
 * The entries of an EFI_SIGNATURE_LIST sequence (UEFI 2.10, 32.4.1) as policy ids: a SHA-256
 * entry (dbx revocations, db image hashes) is `sha256:<hex of the hash>`; an X.509 entry is
 * `x509-sha256:<hex of SHA-256 over the DER certificate>`; any other type is
 * `<type guid>-sha256:<hex of SHA-256 over the signature data>`.
 *
 * @throws ParseError BOOT_EVENT_MALFORMED with the offset
 */
export function signatureEntries(e: BootEvent, v: UefiVariable): string[] {
  // Offsets inside v.data, relative to the event data, for messages.
  const base = v.data.byteOffset - e.data.byteOffset;
  return within(e, 'EFI_SIGNATURE_LIST', (c) => {
    c.offset = base;
    const out: string[] = [];
    while (c.remaining > 0) {
      const at = c.offset;
      const type = guidString(c.take(16, 'SignatureType'));
      const listSize = c.u32le('SignatureListSize'); // attacker-controlled
      const headerSize = c.u32le('SignatureHeaderSize');
      const sigSize = c.u32le('SignatureSize');
      const body = listSize - 28;
      if (
        listSize < 28 ||
        body > c.remaining ||
        headerSize > body ||
        sigSize <= 16 ||
        (body - headerSize) % sigSize !== 0
      )
        throw new ParseError(
          'LENGTH_TOO_LARGE',
          c.structure,
          'SignatureListSize',
          at,
          `list of ${listSize} bytes, header ${headerSize}, signatures of ${sigSize}, ${c.remaining} bytes left`,
        );
      c.take(headerSize, 'SignatureHeader');
      for (let n = (body - headerSize) / sigSize; n > 0; n--) {
        c.take(16, 'SignatureOwner');
        const data = c.take(sigSize - 16, 'SignatureData');
        if (type === EFI_CERT_SHA256 && data.length === 32) out.push(`sha256:${toHex(data)}`);
        else if (type === EFI_CERT_X509) out.push(`x509-sha256:${toHex(sha256(data))}`);
        else out.push(`${type}-sha256:${toHex(sha256(data))}`);
      }
    }
    return out;
  });
}
