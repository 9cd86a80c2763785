import { CoreError } from '../errors.ts';
import { fromUtf8, utf8 } from './encoding.ts';

/** A value that canonical JSON can carry: no floats, no undefined. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | CanonicalValue[]
  | { [key: string]: CanonicalValue };

/**
 * Canonical JSON: the subset of RFC 8785 (JCS) with integers only. Object keys sorted by
 * UTF-16 code units, no whitespace, strings escaped as ECMAScript JSON.stringify does,
 * numbers are safe integers written in decimal. Any JCS library produces the same bytes
 * for these values, which is what lets a second implementation re-derive them.
 * @throws CoreError RECEIPT_MALFORMED for a non-integer number or an unsupported value.
 */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      throw new CoreError('RECEIPT_MALFORMED', `non-integer or unsafe number ${value}`);
    return Object.is(value, -0) ? '0' : String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as CanonicalValue)}`).join(',')}}`;
  }
  throw new CoreError('RECEIPT_MALFORMED', `unsupported value of type ${typeof value}`);
}

/** UTF-8 bytes of canonicalJson(value). */
export function canonicalBytes(value: CanonicalValue): Uint8Array {
  return utf8(canonicalJson(value));
}

/**
 * Parses bytes that must be canonical JSON, and proves it by re-encoding: the bytes must be
 * exactly canonicalBytes(parsed). Rejects invalid UTF-8, duplicate keys (they cannot survive
 * the round trip), whitespace, floats and any other encoding freedom.
 * @throws CoreError RECEIPT_MALFORMED | RECEIPT_NOT_CANONICAL
 */
export function parseCanonical(bytes: Uint8Array): CanonicalValue {
  let text: string;
  let value: unknown;
  try {
    text = fromUtf8(bytes);
    value = JSON.parse(text);
  } catch (cause) {
    throw new CoreError('RECEIPT_MALFORMED', 'not valid UTF-8 JSON', { cause });
  }
  let again: string;
  try {
    again = canonicalJson(value as CanonicalValue);
  } catch (cause) {
    throw new CoreError('RECEIPT_NOT_CANONICAL', 'JSON holds values outside the canonical subset', { cause });
  }
  if (again !== text) throw new CoreError('RECEIPT_NOT_CANONICAL', 'JSON bytes are not in canonical form');
  return value as CanonicalValue;
}
