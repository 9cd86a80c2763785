/** Error codes of the log area (docs/errors.md). */
export const LOG_ERROR_CODES = [] as const;
