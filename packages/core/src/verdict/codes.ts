/**
 * Failure codes that a verification names in a check (it never throws them): the evidence
 * was read but did not hold.
 */
export const VERDICT_FAILURE_CODES = [
  'RECEIPT_SIGNATURE_INVALID',
  'AGENT_KEY_UNKNOWN',
  'AGENT_KEY_NOT_ENROLLED',
  'RECEIPT_ID_MISMATCH',
  'REQUEST_HASH_MISMATCH',
  'RESPONSE_HASH_MISMATCH',
  'RECEIPT_NOT_FOUND',
] as const;
