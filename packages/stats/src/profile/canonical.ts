import { CoreError, type JsonValue, jcs } from '@tmb/core';
import { StatsError } from '../errors.ts';

// Canonical JSON is core's (RFC 8785, `jcs` in @tmb/core; docs/profile.md): these two names stay
// for stats' callers and keep stats' error code.

export type { JsonValue };

/**
 * RFC 8785 canonical JSON (core's jcs): object keys sorted by UTF-16 code units, no
 * whitespace, floats in ECMAScript form, undefined object members left out.
 * @throws StatsError PROFILE_MALFORMED for NaN, Infinity or an unsupported value
 */
export function canonicalJson(value: unknown): string {
  try {
    return jcs(value);
  } catch (cause) {
    if (cause instanceof CoreError) throw new StatsError('PROFILE_MALFORMED', cause.message, { cause });
    throw cause;
  }
}

/** UTF-8 bytes of canonicalJson(value): what a profile signature covers. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
