import { TmbError } from '@tmb/core';

/** Error codes of the verifier service (docs/errors.md), with the HTTP status each maps to. */
export const VERIFIER_ERROR_STATUS = {
  VERIFIER_CONFIG_INVALID: 500,
  TOKEN_INVALID: 401,
  TOKEN_AGENT_MISMATCH: 403,
  ENROL_PROOF_INVALID: 400,
  ENROL_KEY_CONFLICT: 409,
  BODY_MALFORMED: 400,
  BODY_TOO_LARGE: 413,
  BATCH_TOO_LARGE: 413,
  RECEIPT_AGENT_MISMATCH: 422,
  RECEIPT_CONFLICT: 409,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  STORE_FAILED: 500,
  STORE_UNREACHABLE: 503,
  STORE_AUTH_FAILED: 500,
  EVIDENCE_REJECTED: 422,
  AK_NOT_ENROLLED: 409,
  CHECKPOINT_KEY_EXISTS: 409,
  ACTIVATION_FAILED: 403,
  TELEMETRY_CHAIN_BROKEN: 409,
  TELEMETRY_BATCH_TAMPERED: 422,
  AK_REPLACEMENT_REFUSED: 409,
  RATE_LIMITED: 429,
  RECEIPT_KEY_SUPERSEDED: 409,
  RECEIPT_SEQ_TAKEN: 409,
  BUNDLE_NOT_READY: 404,
} as const;

export type VerifierErrorCode = keyof typeof VERIFIER_ERROR_STATUS;

/** Every verifier error code, in table order (docs/errors.md). */
export const VERIFIER_ERROR_CODES = Object.keys(VERIFIER_ERROR_STATUS) as VerifierErrorCode[];

/**
 * The one error class of `@tmb/verifier`. Thrown inside request handlers and turned into
 * `{"error": {"code", "message"}}` with `status`; callers switch on `code`. A thin subclass of
 * core's TmbError (name, code, message and cause as every package's error class).
 */
export class VerifierError extends TmbError<VerifierErrorCode> {
  constructor(code: VerifierErrorCode, message: string, options?: ErrorOptions) {
    super('VerifierError', code, message, options);
  }

  /** The HTTP status this code maps to (docs/errors.md). */
  get status(): number {
    return VERIFIER_ERROR_STATUS[this.code];
  }
}
