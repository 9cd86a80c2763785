/** Error codes of receipt encoding and decoding (docs/receipt.md). */
export const RECEIPT_ERROR_CODES = [
  'RECEIPT_MALFORMED',
  'RECEIPT_NOT_CANONICAL',
  'RECEIPT_VERSION_UNSUPPORTED',
  'RECEIPT_TOO_LARGE',
] as const;
