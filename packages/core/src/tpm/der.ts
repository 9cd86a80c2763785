import { ParseError } from '../errors.ts';

// A minimal, bounded DER reader (ITU-T X.690 section 10): just enough to walk an EK certificate
// to its extensions and read the three the TCG EK profile names. node:crypto's X509Certificate
// checks signatures and chains but exposes neither the SAN's directoryName attributes nor the
// key usage bits, and no maintained zero-dependency library fits core, hence this by hand.

/** Largest DER input walked: EK certificates are 0.7-2 KiB; a 16 KiB cap bounds the work. */
export const MAX_DER_BYTES = 16 * 1024;
/** Most elements read from one constructed value (a SEQUENCE OF, a Name's RDNs). */
export const MAX_DER_ELEMENTS = 64;
/** Most arcs in one OBJECT IDENTIFIER, and most bytes of one arc (arcs stay below 2^53). */
const MAX_OID_BYTES = 64;

/** One DER element: its tag byte and the bytes of its contents (a view, not a copy). */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte within the input that `readTlv` read. */
  offset: number;
  content: Uint8Array;
  /** Offset just past the element. */
  end: number;
}

const fail = (field: string, offset: number, detail: string): never => {
  throw new ParseError('EK_CERT_DER_INVALID', 'DER', field, offset, detail);
};

/**
 * Reads one element at `offset` of `bytes` (attacker-controlled). Low tag numbers only (one tag
 * byte), definite lengths of at most 4 bytes in minimal form (X.690 10.1), and never past the end.
 * @throws ParseError EK_CERT_DER_INVALID
 */
export function readTlv(bytes: Uint8Array, offset: number, field: string): Tlv {
  if (bytes.length > MAX_DER_BYTES) fail(field, 0, `input of ${bytes.length} bytes over ${MAX_DER_BYTES}`);
  let at = offset;
  if (at + 2 > bytes.length) fail(field, at, 'truncated element header');
  const tag = bytes[at++]!;
  if ((tag & 0x1f) === 0x1f) fail(field, offset, 'high tag numbers are not used in certificates');
  const first = bytes[at++]!;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0) fail(field, offset, 'indefinite length is BER, not DER');
    if (n > 4) fail(field, offset, `length of ${n} bytes`);
    if (at + n > bytes.length) fail(field, at, 'truncated length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[at++]!;
    // X.690 10.1: the shortest form; a long form for < 128 or a leading zero byte is not DER.
    if (length < 0x80 || bytes[at - n] === 0) fail(field, offset, 'length not in its shortest form');
  }
  if (length > bytes.length - at)
    fail(field, at, `length ${length} past the end (${bytes.length - at} left)`);
  return { tag, offset, content: bytes.subarray(at, at + length), end: at + length };
}

/**
 * Reads exactly one element filling `bytes`, of tag `tag`.
 * @throws ParseError EK_CERT_DER_INVALID (another tag, or trailing bytes)
 */
export function readOne(bytes: Uint8Array, tag: number, field: string): Tlv {
  const t = readTlv(bytes, 0, field);
  if (t.tag !== tag) fail(field, 0, `tag 0x${t.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  if (t.end !== bytes.length) fail(field, t.end, `${bytes.length - t.end} trailing bytes`);
  return t;
}

/**
 * The elements of a constructed value's contents, in order, at most MAX_DER_ELEMENTS.
 * @throws ParseError EK_CERT_DER_INVALID
 */
export function elements(content: Uint8Array, field: string): Tlv[] {
  const out: Tlv[] = [];
  let at = 0;
  while (at < content.length) {
    if (out.length === MAX_DER_ELEMENTS) fail(field, at, `more than ${MAX_DER_ELEMENTS} elements`);
    const t = readTlv(content, at, field);
    out.push(t);
    at = t.end;
  }
  return out;
}

/**
 * The dotted text of an OBJECT IDENTIFIER's contents (X.690 8.19): base-128 arcs, the first
 * two packed into one. Rejects empty, unterminated and non-minimal (leading 0x80) arcs.
 * @throws ParseError EK_CERT_DER_INVALID
 */
export function oidText(content: Uint8Array, field: string): string {
  if (content.length === 0 || content.length > MAX_OID_BYTES)
    fail(field, 0, `OID of ${content.length} bytes`);
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const [i, b] of content.entries()) {
    if (fresh && b === 0x80) fail(field, i, 'OID arc not in its shortest form');
    value = value * 128 + (b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) fail(field, content.length, 'OID ends inside an arc');
  const head = arcs[0]!;
  const [a, b] = head < 40 ? [0, head] : head < 80 ? [1, head - 40] : [2, head - 80];
  return [a, b, ...arcs.slice(1)].join('.');
}

/** Tags used by the EK profile walk (X.690 8.1.2 identifier octets). */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [4] constructed: GeneralName directoryName (RFC 5280 4.2.1.6, EXPLICIT because Name is a CHOICE). */
  DIRECTORY_NAME: 0xa4,
  /** [3] constructed: TBSCertificate extensions (RFC 5280 4.1). */
  EXTENSIONS: 0xa3,
} as const;
