/** Error codes of the tpm area (docs/errors.md). */
export const TPM_ERROR_CODES = [] as const;
