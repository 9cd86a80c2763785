/**
 * Error codes of the tpm area (docs/errors.md). The first group is thrown by the parsers
 * (as ParseError) and by makeCredential; the second is named in failed checks of
 * verifyQuote, enrolment and EK certificate checks, never thrown.
 */
export const TPM_ERROR_CODES = [
  'TPM_ALG_UNSUPPORTED',
  'TPM_VALUE_INVALID',
  'TPM_PCR_SELECTION_INVALID',
  'TPM_PCRS_FILE_INVALID',
  'TPM_KEY_INVALID',
  'QUOTE_MAGIC_INVALID',
  'QUOTE_TYPE_INVALID',
  'QUOTE_NONCE_MISMATCH',
  'QUOTE_PCRS_MISSING',
  'QUOTE_PCR_SELECTION_MISMATCH',
  'QUOTE_PCR_DIGEST_MISMATCH',
  'QUOTE_SIGNATURE_SCHEME_MISMATCH',
  'QUOTE_SIGNATURE_INVALID',
  'QUOTE_CLOCK_UNSAFE',
  'QUOTE_CLOCK_REGRESSED',
  'QUOTE_RESET_COUNT_REGRESSED',
  'QUOTE_RESTART_COUNT_REGRESSED',
  'AK_ATTRIBUTES_INVALID',
  'AK_NAME_MISMATCH',
  'EK_CERT_INVALID',
  'EK_CERT_CHAIN_INVALID',
  'EK_CERT_KEY_MISMATCH',
] as const;
