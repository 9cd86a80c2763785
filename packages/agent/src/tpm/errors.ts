import { TmbError } from '@tmb/core';

/**
 * Codes of the TPM driver (docs/errors.md, package `agent`). The driver throws: it does I/O,
 * and its failures are the host's, not bad evidence.
 */
export const TPM_DRIVER_ERROR_CODES = [
  'TPM_UNAVAILABLE',
  'TPM_TOOL_FAILED',
  'TPM_TOOL_TIMEOUT',
  'TPM_RESPONSE_INVALID',
  'SWTPM_FAILED',
] as const;

export type TpmDriverErrorCode = (typeof TPM_DRIVER_ERROR_CODES)[number];

/**
 * The TPM driver's error: no TPM or tools, a tool or command that failed or hung, bytes from the
 * TPM that are not a response, swtpm that would not start.
 */
export class TpmDriverError extends TmbError<TpmDriverErrorCode> {
  constructor(code: TpmDriverErrorCode, message: string, options?: ErrorOptions) {
    super('TpmDriverError', code, message, options);
  }
}
