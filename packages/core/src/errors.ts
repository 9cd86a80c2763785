import { BOOT_ERROR_CODES } from './boot/codes.ts';
import { BYTES_ERROR_CODES } from './bytes/codes.ts';
import { HOST_FAILURE_CODES } from './host/codes.ts';
import { IMA_ERROR_CODES } from './ima/codes.ts';
import { LOG_ERROR_CODES } from './log/codes.ts';
import { RECEIPT_ERROR_CODES } from './receipt/codes.ts';
import { STORE_ERROR_CODES } from './store/codes.ts';
import { TPM_ERROR_CODES } from './tpm/codes.ts';
import { VERDICT_FAILURE_CODES } from './verdict/codes.ts';

/**
 * Every error code the core package can produce, grouped by the area that owns it.
 * Each area keeps its list in its own `codes.ts`; docs/errors.md lists every code
 * with its meaning and HTTP status, and test/errors.test.ts fails when the two disagree.
 */
export const CORE_ERROR_CODES = [
  ...BYTES_ERROR_CODES,
  ...RECEIPT_ERROR_CODES,
  ...VERDICT_FAILURE_CODES,
  ...TPM_ERROR_CODES,
  ...LOG_ERROR_CODES,
  ...IMA_ERROR_CODES,
  ...HOST_FAILURE_CODES,
  ...BOOT_ERROR_CODES,
  ...STORE_ERROR_CODES,
] as const;

export type CoreErrorCode = (typeof CORE_ERROR_CODES)[number];

/**
 * The base of every TMB package's error class (CoreError, StatsError, ClientError, AgentError,
 * VerifierError, ...): a `code` from the package's string-literal union that callers `switch`
 * on, a message for people, `cause` when wrapping, and `name` set to the subclass's name as an
 * own property (before `code`, as each class wrote it by hand). `instanceof` works on both the
 * subclass and TmbError. A subclass is a constructor that passes its name:
 * @example
 * export class StatsError extends TmbError<StatsErrorCode> {
 *   constructor(code: StatsErrorCode, message: string, options?: ErrorOptions) {
 *     super('StatsError', code, message, options);
 *   }
 * }
 */
export class TmbError<Code extends string = string> extends Error {
  // `declare`: no class field, so `code` is defined after `name`, in the constructor.
  declare readonly code: Code;

  constructor(name: string, code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = name;
    this.code = code;
  }
}

/**
 * The one error class of `@tmb/core`. Callers switch on `code`; the message is for people.
 */
export class CoreError extends TmbError<CoreErrorCode> {
  constructor(code: CoreErrorCode, message: string, options?: ErrorOptions) {
    super('CoreError', code, message, options);
  }
}

/** A failure to parse untrusted bytes: names the structure, field and byte offset. */
export class ParseError extends CoreError {
  readonly structure: string;
  readonly field: string;
  readonly offset: number;

  constructor(code: CoreErrorCode, structure: string, field: string, offset: number, detail: string) {
    super(code, `${structure}.${field} at byte ${offset}: ${detail}`);
    this.name = 'ParseError';
    this.structure = structure;
    this.field = field;
    this.offset = offset;
  }
}
