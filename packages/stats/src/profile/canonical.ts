import { StatsError } from '../errors.ts';

/** A JSON value with finite numbers only. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Canonical JSON for profiles: RFC 8785 (JCS). Object keys sorted by UTF-16 code units, no
 * whitespace, strings as JSON.stringify writes them, numbers as ECMAScript Number-to-String
 * (which is JCS's rule, RFC 8785 section 3.2.2.3), so floats are allowed. Written here rather
 * than taken from @tmb/core because stats imports nothing of ours and core's canonical form is
 * integers only. Undefined object members are left out.
 * @throws StatsError PROFILE_MALFORMED for NaN, Infinity or an unsupported value
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new StatsError('PROFILE_MALFORMED', `non-finite number ${value}`);
    return Object.is(value, -0) ? '0' : String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new StatsError('PROFILE_MALFORMED', `unsupported value of type ${typeof value}`);
}

/** UTF-8 bytes of canonicalJson(value): what a profile signature covers. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
