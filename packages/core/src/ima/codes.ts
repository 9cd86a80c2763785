/**
 * Error codes of the ima area (docs/errors.md), and of the model registry (src/registry), whose
 * appraisal runs over the same measurement entries.
 *
 * Parse codes are thrown (`ImaParseError`, carrying the entry index and byte offset); appraisal,
 * replay-against-quote and registry codes are named in failed checks, never thrown.
 */
export const IMA_ERROR_CODES = [
  // Parsing a measurement list (binary or ASCII).
  'IMA_TEMPLATE_UNKNOWN',
  'IMA_FIELD_MALFORMED',
  'IMA_DIGEST_ALG_UNSUPPORTED',
  'IMA_DIGEST_SIZE_MISMATCH',
  'IMA_PATH_NOT_UTF8',
  'IMA_PCR_INDEX_INVALID',
  'IMA_ASCII_MALFORMED',
  'IMA_TEMPLATE_HASH_ALG_MISMATCH',
  'IMA_LOG_EMPTY',
  'IMA_ASCII_BOM',
  'IMA_ASCII_CRLF',
  'IMA_ASCII_BLANK_LINE',
  // Replay against a quoted PCR, full or incremental.
  'IMA_TEMPLATE_HASH_MISMATCH',
  'IMA_PCR_MISMATCH',
  'IMA_LOG_AHEAD_OF_QUOTE',
  'IMA_QUOTE_NOT_CAUGHT_UP',
  'IMA_INDEX_GAP',
  'IMA_FULL_LOG_REQUIRED',
  'IMA_RESET_COUNT_DECREASED',
  // Keylime runtime policy.
  'IMA_POLICY_INVALID',
  'IMA_POLICY_REGEX_UNSUPPORTED',
  'IMA_POLICY_LEGACY_ALLOWLIST',
  'IMA_POLICY_ENVELOPE_INVALID',
  'IMA_POLICY_KEY_REQUIRED',
  'IMA_POLICY_KEY_INVALID',
  'IMA_POLICY_SIGNATURE_INVALID',
  'IMA_POLICY_NOT_SIGNED',
  'IMA_LOG_HASH_ALG_MISMATCH',
  'IMA_FILE_NOT_IN_POLICY',
  'IMA_DIGEST_NOT_ALLOWED',
  'IMA_KEYRING_NOT_ALLOWED',
  'IMA_BUF_NOT_ALLOWED',
  'IMA_VIOLATION',
  'IMA_WRONG_PCR',
  // TMB model registry.
  'REGISTRY_INVALID',
  'MODEL_UNKNOWN',
  'WEIGHTS_NOT_ALLOWED',
  'ENGINE_NOT_ALLOWED',
  'AGENT_BUILD_NOT_ALLOWED',
] as const;
