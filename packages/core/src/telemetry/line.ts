import { fromBase64, toBase64 } from '../bytes/encoding.ts';
import { CoreError } from '../errors.ts';

// The checkpoint extension line that commits a signed (and TPM-quoted) checkpoint to the
// telemetry chain (docs/telemetry.md; docs/checkpoint.md, "Extension lines"):
//   tmb-telemetry <count> <base64 head>
// count = batches covered (>= 1, minimal decimal), head = the chain head after the last of
// them (32 bytes, standard base64 with padding). A checkpoint before the first batch has none.

/** The keyword that starts a telemetry line. */
export const TELEMETRY_LINE_KEYWORD = 'tmb-telemetry';

/** What a telemetry line says: how many batches the checkpoint covers, and the head after them. */
export interface TelemetryLine {
  /** Batches covered, >= 1. */
  count: number;
  /** Chain head after batch count - 1 (32 bytes). */
  head: Uint8Array;
}

// 1 to 16 digits, no leading zero; 43 base64 characters and one '=' are exactly 32 bytes.
const LINE = /^tmb-telemetry ([1-9][0-9]{0,15}) ([A-Za-z0-9+/]{43}=)$/;

/** True when an extension line claims to be a telemetry line (its first word is `tmb-telemetry`). */
export function isTelemetryLine(line: string): boolean {
  return line === TELEMETRY_LINE_KEYWORD || line.startsWith(`${TELEMETRY_LINE_KEYWORD} `);
}

/**
 * The telemetry line for `count` batches whose last head is `head`.
 * @throws CoreError INTEGER_OUT_OF_RANGE when count is not a safe integer >= 1 (before the first
 *   batch there is no line) | BAD_ENCODING when head is not 32 bytes (programmer errors).
 * @example formatTelemetryLine(3, head) === `tmb-telemetry 3 ${toBase64(head)}`
 */
export function formatTelemetryLine(count: number, head: Uint8Array): string {
  if (!Number.isSafeInteger(count) || count < 1)
    throw new CoreError('INTEGER_OUT_OF_RANGE', `telemetry line count ${count} is not an integer >= 1`);
  if (head.length !== 32)
    throw new CoreError('BAD_ENCODING', `telemetry head must be 32 bytes, found ${head.length}`);
  return `${TELEMETRY_LINE_KEYWORD} ${count} ${toBase64(head)}`;
}

/**
 * Parses one telemetry line strictly: the keyword, one space, count (1 to 16 digits, no
 * leading zero), one space, the head in canonical padded base64 of 32 bytes, nothing else.
 * Attacker-controlled text. Never throws: undefined when the line is malformed.
 * (A 16-digit count above 2^53 - 1 is read as the nearest double, as the verifier always did;
 * no chain reaches it.)
 */
export function parseTelemetryLine(line: string): TelemetryLine | undefined {
  const m = LINE.exec(line);
  if (m === null) return undefined;
  let head: Uint8Array;
  try {
    head = fromBase64(m[2] as string);
  } catch {
    return undefined;
  }
  return { count: Number(m[1]), head };
}
