import { type AsciiState, newAsciiState, parseAsciiColumns, parseAsciiInto } from './ascii.ts';
import { binaryTemplateHashAlg, parseBinaryColumns, parseBinaryInto } from './binary.ts';
import { ColumnBuilder } from './column-builder.ts';
import type { ImaColumns } from './columns.ts';
import { ImaParseError } from './error.ts';
import { IMA_LIMITS, type ImaEntry, type ParseOptions } from './types.ts';

/** The two forms the kernel exports a measurement list in. */
export type LogForm = 'binary' | 'ascii';

/**
 * Which form `bytes` is in. A binary list starts with a little-endian PCR index below 24, so
 * its first byte is never an ASCII digit or space; an ASCII list starts with "%2d", so it
 * always is. Text that an editor touched is taken for ASCII too, so that the parse can say
 * what is wrong: a UTF-8 byte-order mark (IMA_ASCII_BOM), a blank first line or a CR LF
 * (a binary list's PCR 10 or 13 is 0x0a or 0x0d followed by 0x00, never by text). Empty input
 * is called binary (zero entries either way).
 */
export function detectForm(bytes: Uint8Array): LogForm {
  const b = bytes[0];
  if (b === 0xef && bytes[1] === 0xbb) return 'ascii';
  if ((b === 0x0a || b === 0x0d) && bytes[1] !== 0) return 'ascii';
  return b !== undefined && (b === 0x20 || (b >= 0x30 && b <= 0x39)) ? 'ascii' : 'binary';
}

/**
 * Parses either form, detected.
 * @throws ImaParseError (see parseBinaryLog and parseAsciiColumns)
 */
export function parseLog(
  bytes: Uint8Array,
  options: ParseOptions = {},
): { form: LogForm; entries: ImaEntry[] } {
  const { form, columns } = parseLogColumns(bytes, options);
  return { form, entries: columns.entries() };
}

/**
 * Parses either form, detected, into columns.
 * @throws ImaParseError (see parseBinaryLog and parseAsciiColumns)
 */
export function parseLogColumns(
  bytes: Uint8Array,
  options: ParseOptions = {},
): { form: LogForm; columns: ImaColumns } {
  const form = detectForm(bytes);
  const columns = form === 'ascii' ? parseAsciiColumns(bytes, options) : parseBinaryColumns(bytes, options);
  return { form, columns };
}

/** Options of a LogReader. */
export interface LogReaderOptions extends ParseOptions {
  /**
   * Fail IMA_LOG_EMPTY at end() when no byte came. Default false: an empty delta is a valid
   * list of no entries; a whole list read from a file is never empty (boot_aggregate).
   */
  rejectEmpty?: boolean;
}

/** Bytes needed to tell the form and the template hash width before parsing. */
const SNIFF = 4 + 64 + 4 + 16;

/**
 * Parses a measurement list as its bytes arrive (a file read chunk by chunk, a pipe,
 * /dev/zero), failing at the first bad entry rather than after reading everything: memory
 * holds the entries parsed so far and one partial entry (a binary entry is at most 1 MiB of
 * template data; an ASCII line at most MAX_ASCII_LINE bytes). Same checks and errors as
 * parseLogColumns, with offsets in the whole input.
 *
 * @example
 *   const reader = new LogReader({ rejectEmpty: true });
 *   for await (const chunk of stream) reader.push(chunk); // throws at the first bad entry
 *   const { form, columns } = reader.end();
 */
export class LogReader {
  #options: LogReaderOptions;
  #max: number;
  #out: ColumnBuilder;
  #form: LogForm | null = null;
  #ascii: AsciiState;
  /** Bytes of an entry not complete yet (the tail of the last chunk). */
  #pending: Uint8Array = new Uint8Array(0);
  /** Offset of #pending[0] in the whole input. */
  #base = 0;
  /** Bytes pushed so far. */
  bytesRead = 0;

  constructor(options: LogReaderOptions = {}) {
    this.#options = options;
    this.#max = options.maxEntries ?? IMA_LIMITS.entries;
    this.#out = new ColumnBuilder(options.firstIndex ?? 0, 4096);
    this.#ascii = newAsciiState(options.templateHashAlg);
  }

  /** Entries parsed so far. */
  get entries(): number {
    return this.#out.length;
  }

  /**
   * Parses what `chunk` completes. The reader keeps `chunk` (entries point into it): pass a
   * buffer that is not reused.
   * @throws ImaParseError at the first bad entry.
   */
  push(chunk: Uint8Array): void {
    this.bytesRead += chunk.length;
    this.#feed(chunk, false);
  }

  /**
   * Parses the rest and returns every entry.
   * @throws ImaParseError for an entry cut off by the end, or IMA_LOG_EMPTY (rejectEmpty).
   */
  end(): { form: LogForm; columns: ImaColumns } {
    if (this.bytesRead === 0 && this.#options.rejectEmpty === true) {
      throw new ImaParseError(
        'IMA_LOG_EMPTY',
        0,
        0,
        'log',
        0,
        'the file is empty: a kernel measurement list always starts with boot_aggregate (wrong file, or read without the rights to securityfs?)',
      );
    }
    this.#feed(new Uint8Array(0), true);
    return { form: this.#form ?? 'binary', columns: this.#out.finish() };
  }

  #feed(chunk: Uint8Array, final: boolean): void {
    let buf = chunk;
    if (this.#pending.length > 0) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending, 0);
      buf.set(chunk, this.#pending.length);
    }
    if (buf.length === 0) return;
    if (this.#form === null) {
      if (buf.length < SNIFF && !final) {
        this.#pending = buf;
        return;
      }
      this.#form = detectForm(buf);
      if (this.#form === 'binary') {
        const alg = binaryTemplateHashAlg(buf, this.#base, this.#options.templateHashAlg, true);
        this.#out.templateHashAlg = alg!;
      }
    }
    const used =
      this.#form === 'ascii'
        ? parseAsciiInto(buf, this.#out, this.#base, this.#max, !final, this.#ascii)
        : parseBinaryInto(buf, this.#out, this.#base, this.#max, !final);
    // Copy the partial entry out, so that a small tail does not keep a whole chunk alive
    // (ASCII entries are rebuilt elsewhere; binary ones keep their own chunk).
    this.#pending = used === buf.length ? new Uint8Array(0) : buf.slice(used);
    this.#base += used;
  }
}
