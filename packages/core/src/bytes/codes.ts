/** Error codes of the byte cursor and encodings, shared by every binary parser. */
export const BYTES_ERROR_CODES = [
  'TRUNCATED',
  'TRAILING_BYTES',
  'LENGTH_TOO_LARGE',
  'BAD_ENCODING',
  'INTEGER_OUT_OF_RANGE',
] as const;
