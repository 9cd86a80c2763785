/** Error codes of the ima area (docs/errors.md). */
export const IMA_ERROR_CODES = [] as const;
