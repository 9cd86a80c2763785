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
  // L1 (docs/evidence.md): named by the verifier's appraisal of TPM evidence.
  'NONCE_UNKNOWN',
  'NONCE_REUSED',
  'KEY_NOT_BOUND',
  'RECEIPTS_MISSING',
  // L1: no accepted quote covered the receipt within the verifier's inclusion deadline.
  'RECEIPT_NOT_INCLUDED',
  // L2 (docs/telemetry.md): the request's GPU telemetry is off the claimed model's profile.
  'TELEMETRY_INCONSISTENT',
  // L2: the GPU the request's samples name is not the profile's, or changed within the window.
  'TELEMETRY_GPU_MISMATCH',
  'TELEMETRY_GPU_CHANGED',
  // L1 evidence (docs/evidence.md): a quoted checkpoint's tmb-telemetry line against the stream.
  'TELEMETRY_HEAD_MISMATCH',
  'TELEMETRY_HEAD_UNKNOWN',
  // Log runs (docs/evidence.md, "Log runs and recovery").
  'RECEIPT_LOG_RUN_ENDED',
  'LOG_RUN_STALE',
  'LOG_RUN_BASE_INVALID',
  'LOG_RUN_BROKEN',
] as const;
