import { type CoreErrorCode, ParseError } from '../errors.ts';

/**
 * A measurement list that cannot be parsed. It is a ParseError (code, field, byte offset) that
 * also names the entry, because a 300,000-entry log is read by entry number: "entry 81,233 at
 * byte 9,240,117: path is not UTF-8". A subclass rather than a second error class: callers
 * still catch ParseError or CoreError and switch on `code`.
 */
export class ImaParseError extends ParseError {
  /** Index of the entry in the whole list (a delta's entries count from its firstIndex). */
  readonly entryIndex: number;
  /** Byte offset where that entry starts in the input. */
  readonly entryOffset: number;

  constructor(
    code: CoreErrorCode,
    entryIndex: number,
    entryOffset: number,
    field: string,
    offset: number,
    detail: string,
  ) {
    super(code, `ima entry ${entryIndex}`, field, offset, detail);
    this.name = 'ImaParseError';
    this.entryIndex = entryIndex;
    this.entryOffset = entryOffset;
  }
}
