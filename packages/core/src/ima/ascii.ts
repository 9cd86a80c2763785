import { type AsciiState, readLine } from './ascii-line.ts';
import { ColumnBuilder, emptySlots } from './column-builder.ts';
import type { ImaColumns } from './columns.ts';
import { ImaParseError } from './error.ts';
import { IMA_LIMITS, type ImaEntry, type ParseOptions, type TemplateHashAlg } from './types.ts';

// The ASCII list, /sys/kernel/security/ima/ascii_runtime_measurements, one entry a line
// (ima_fs.c, ima_ascii_measurements_show): "%2d" PCR, the template hash in hex, the template
// name, then a space before every field, each field as text:
//   10 <sha1 hex> ima-ng sha256:<hex> /usr/bin/bash
//   10 <sha1 hex> ima-sig sha256:<hex> /usr/bin/ls <signature hex, possibly empty>
//   10 <sha1 hex> ima <sha1 hex> /usr/bin/bash
// The per-bank lists (ascii_runtime_measurements_<bank>, Linux 6.10 on) carry that bank's
// template hash instead: 64 hex digits for sha256. The name is printed with "%s": its bytes as
// they are, UTF-8 or not; it never holds a space (the kernel writes `_`, ima_template_lib.c) or
// a newline. The parser works on bytes, not text, so that a name that is not UTF-8 keeps its
// bytes, and rebuilds each entry's template data in the binary layout, so that replay treats
// both forms alike.

const LF = 0x0a;
/** The longest line a kernel can print: template data hex-encoded, plus the short fields. */
export const MAX_ASCII_LINE = 2 * IMA_LIMITS.templateData + 1024;

/**
 * Parses the ASCII form into entries. Offsets are byte offsets into `input`.
 * @throws ImaParseError (see parseAsciiColumns)
 */
export function parseAsciiLog(input: Uint8Array, options: ParseOptions = {}): ImaEntry[] {
  return parseAsciiColumns(input, options).entries();
}

/**
 * Parses the ASCII form into columns, with no per-entry object.
 * @throws ImaParseError IMA_ASCII_MALFORMED, IMA_ASCII_BOM, IMA_ASCII_CRLF, IMA_ASCII_BLANK_LINE,
 *   IMA_TEMPLATE_UNKNOWN, IMA_DIGEST_ALG_UNSUPPORTED, IMA_DIGEST_SIZE_MISMATCH,
 *   IMA_PCR_INDEX_INVALID, IMA_TEMPLATE_HASH_ALG_MISMATCH, LENGTH_TOO_LARGE
 */
export function parseAsciiColumns(input: Uint8Array, options: ParseOptions = {}): ImaColumns {
  const max = options.maxEntries ?? IMA_LIMITS.entries;
  // ~200 bytes an ima-ng line.
  const out = new ColumnBuilder(options.firstIndex ?? 0, Math.min(max, Math.ceil(input.length / 180)));
  parseAsciiInto(input, out, 0, max, false, newAsciiState(options.templateHashAlg));
  return out.finish();
}

export type { AsciiState };

/** A fresh AsciiState. */
export function newAsciiState(expected?: TemplateHashAlg): AsciiState {
  const chunk = new Uint8Array(0);
  return { expected, found: null, chunk, view: new DataView(chunk.buffer), used: 0 };
}

/**
 * Parses the lines of `input` into `out`, `base` being the offset of input[0] in the whole
 * list. With `partial`, a last line without its newline is left for the next call (streaming):
 * returns how many bytes were consumed.
 * @throws ImaParseError (see parseAsciiColumns) at the first bad line.
 */
export function parseAsciiInto(
  input: Uint8Array,
  out: ColumnBuilder,
  base: number,
  max: number,
  partial: boolean,
  state: AsciiState,
): number {
  const slots = emptySlots();
  let start = 0;
  while (start < input.length) {
    let end = input.indexOf(LF, start);
    const index = out.firstIndex + out.length;
    if (end < 0) {
      if (input.length - start > MAX_ASCII_LINE) {
        throw new ImaParseError(
          'LENGTH_TOO_LARGE',
          index,
          base + start,
          'line',
          base + start,
          `line longer than ${MAX_ASCII_LINE} bytes: no kernel prints one (is this an ASCII IMA list?)`,
        );
      }
      if (partial) return start;
      end = input.length;
    }
    if (out.length >= max) {
      throw new ImaParseError(
        'LENGTH_TOO_LARGE',
        index,
        base + start,
        'entries',
        base + start,
        `over ${max} entries`,
      );
    }
    readLine(input, start, end, index, base, out, slots, state);
    start = end + 1;
  }
  return input.length;
}
