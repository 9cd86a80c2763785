import { parseAsciiLog } from './ascii.ts';
import { parseBinaryColumns, parseBinaryLog } from './binary.ts';
import { columnsOf } from './column-builder.ts';
import type { ImaColumns } from './columns.ts';
import type { ImaEntry, ParseOptions } from './types.ts';

/** The two forms the kernel exports a measurement list in. */
export type LogForm = 'binary' | 'ascii';

/**
 * Which form `bytes` is in. A binary list starts with a little-endian PCR index below 24, so
 * its first byte is never an ASCII digit or space; an ASCII list starts with "%2d", so it
 * always is. Empty input is called binary (zero entries either way).
 */
export function detectForm(bytes: Uint8Array): LogForm {
  const b = bytes[0];
  return b !== undefined && (b === 0x20 || (b >= 0x30 && b <= 0x39)) ? 'ascii' : 'binary';
}

/**
 * Parses either form, detected.
 * @throws ImaParseError (see parseBinaryLog and parseAsciiLog)
 */
export function parseLog(
  bytes: Uint8Array,
  options: ParseOptions = {},
): { form: LogForm; entries: ImaEntry[] } {
  const form = detectForm(bytes);
  return { form, entries: form === 'ascii' ? parseAsciiLog(bytes, options) : parseBinaryLog(bytes, options) };
}

/**
 * parseLog into columns: a binary list is read straight into them; an ASCII one is parsed into
 * entries first (its template data is rebuilt anyway), then laid out as columns.
 * @throws ImaParseError (see parseBinaryLog and parseAsciiLog)
 */
export function parseLogColumns(
  bytes: Uint8Array,
  options: ParseOptions = {},
): { form: LogForm; columns: ImaColumns } {
  const form = detectForm(bytes);
  const columns =
    form === 'ascii'
      ? columnsOf(parseAsciiLog(bytes, options), options.firstIndex ?? 0)
      : parseBinaryColumns(bytes, options);
  return { form, columns };
}
