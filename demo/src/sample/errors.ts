import { TmbError } from '@tmb/core';

/**
 * Codes of the sample server's error answers. These are OpenAI's own vocabulary (lower case),
 * not TMB codes: the sample stands in for a third-party model server, so they are not in
 * docs/errors.md, and the agent must relay them untouched like any upstream answer.
 */
export type SampleErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'model_not_found'
  | 'not_found'
  | 'method_not_allowed'
  | 'body_too_large';

const STATUS: Record<SampleErrorCode, number> = {
  invalid_json: 400,
  invalid_request: 400,
  model_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  body_too_large: 413,
};

/** One bad request, answered as `{"error": {"message", "type", "param", "code"}}` (OpenAI's shape). */
export class SampleError extends TmbError<SampleErrorCode> {
  /** The request field at fault, or null. */
  readonly param: string | null;

  constructor(code: SampleErrorCode, message: string, param: string | null = null) {
    super('SampleError', code, message);
    this.param = param;
  }

  /** The HTTP status this code is answered with. */
  get status(): number {
    return STATUS[this.code];
  }

  /** The JSON body OpenAI's API sends for an error, which its client turns into an APIError. */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string } } {
    const type = this.status === 404 ? 'not_found_error' : 'invalid_request_error';
    return { error: { message: this.message, type, param: this.param, code: this.code } };
  }
}
