import { TmbError } from '@tmb/core';

/**
 * Error codes of the client SDK (docs/errors.md). CLIENT_CONFIG_INVALID and RESPONSE_NOT_TRACKED
 * are thrown (programmer errors); the others are named in failed checks of a ClientResult,
 * because a verification never throws for bad or missing evidence.
 */
export const CLIENT_ERROR_CODES = [
  'CLIENT_CONFIG_INVALID',
  'RESPONSE_NOT_TRACKED',
  'RECEIPT_HEADER_MISSING',
  'VERIFIER_NOT_CONFIGURED',
  'VERIFIER_UNREACHABLE',
  'VERIFIER_TIMEOUT',
  'VERIFIER_ANSWER_INVALID',
  'RESPONSE_INCOMPLETE',
  'RESULT_INVALID',
  'RESULT_BINDING_MISMATCH',
  'CLIENT_NONCE_MISMATCH',
  'BUNDLE_MALFORMED',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** The one error class of `@tmb/client`. */
export class ClientError extends TmbError<ClientErrorCode> {
  constructor(code: ClientErrorCode, message: string, options?: ErrorOptions) {
    super('ClientError', code, message, options);
  }
}
