import { CoreError } from '../errors.ts';
import { fromUtf8, utf8 } from './encoding.ts';

// The one canonical JSON of TMB: RFC 8785 (JCS). Object keys sorted by UTF-16 code units, no
// whitespace, strings escaped as ECMAScript JSON.stringify does, numbers as ECMAScript
// Number-to-String (RFC 8785 section 3.2.2.3). Two entry points share one writer:
// - jcs: the whole of JCS (finite floats; undefined members left out, as JSON.stringify does),
//   for telemetry batches (docs/telemetry.md) and profiles (docs/profile.md);
// - canonicalJson: the integer-only subset that receipts use (docs/receipt.md), stricter so
//   that a receipt cannot carry a float or an undefined member at all.
// Any JCS library produces the same bytes for these values, which is what lets a second
// implementation re-derive them.

/** A value that canonical JSON can carry: no floats, no undefined. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | CanonicalValue[]
  | { [key: string]: CanonicalValue };

/** A JSON value with finite numbers only: what jcs writes. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** How the writer treats numbers and undefined members, and what it throws. */
interface Rules {
  integersOnly: boolean;
  code: 'RECEIPT_MALFORMED' | 'BAD_ENCODING';
}

const RECEIPT_RULES: Rules = { integersOnly: true, code: 'RECEIPT_MALFORMED' };
const JCS_RULES: Rules = { integersOnly: false, code: 'BAD_ENCODING' };

function number(value: number, r: Rules): string {
  if (r.integersOnly ? !Number.isSafeInteger(value) : !Number.isFinite(value))
    throw new CoreError(
      r.code,
      r.integersOnly ? `non-integer or unsafe number ${value}` : `non-finite number ${value}`,
    );
  return Object.is(value, -0) ? '0' : String(value);
}

function write(value: unknown, r: Rules): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return number(value, r);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => write(v, r)).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    let keys = Object.keys(obj);
    if (!r.integersOnly) keys = keys.filter((k) => obj[k] !== undefined);
    keys.sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], r)}`).join(',')}}`;
  }
  throw new CoreError(r.code, `unsupported value of type ${typeof value}`);
}

/**
 * RFC 8785 canonical JSON of any JSON value: finite numbers (floats allowed) in ECMAScript
 * form, -0 as 0, object members whose value is undefined left out.
 * @throws CoreError BAD_ENCODING for NaN, an infinity, or a value JSON cannot carry (a
 *   function, a bigint, undefined outside an object member).
 * @example jcs({ b: 1.5, a: [true, null] }) === '{"a":[true,null],"b":1.5}'
 */
export function jcs(value: unknown): string {
  return write(value, JCS_RULES);
}

/** UTF-8 bytes of jcs(value). @throws CoreError BAD_ENCODING, as jcs. */
export function jcsBytes(value: unknown): Uint8Array {
  return utf8(jcs(value));
}

/**
 * Canonical JSON of a receipt: the subset of RFC 8785 (JCS) with integers only. Numbers must be
 * safe integers written in decimal; any other value outside JSON (undefined included) throws.
 * For the values it accepts, the bytes are those of jcs.
 * @throws CoreError RECEIPT_MALFORMED for a non-integer number or an unsupported value.
 */
export function canonicalJson(value: CanonicalValue): string {
  return write(value, RECEIPT_RULES);
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
