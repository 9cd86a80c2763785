/**
 * Error codes of the boot area (docs/errors.md, docs/boot.md). Parse codes are thrown as
 * `ParseError` (with the byte offset); the appraisal codes are named in the failed `host.boot`
 * check, never thrown. `BOOT_LOG_ABSENT` lives in host/codes.ts and is shared.
 */
export const BOOT_ERROR_CODES = [
  // Parsing a TCG2 crypto-agile event log.
  'BOOT_SPEC_ID_INVALID',
  'BOOT_ALG_UNKNOWN',
  'BOOT_DIGEST_COUNT_MISMATCH',
  'BOOT_PCR_INDEX_INVALID',
  'BOOT_EVENT_MALFORMED',
  // Appraising it against quoted PCRs 0-9.
  'BOOT_LOG_MALFORMED',
  'BOOT_PCR_NOT_QUOTED',
  'BOOT_PCR_MISMATCH',
  'BOOT_EVENT_DIGEST_MISMATCH',
  // Measured-boot reference policy.
  'BOOT_POLICY_INVALID',
  'BOOT_SECURE_BOOT_DISABLED',
  'BOOT_POLICY_VARIABLE_NOT_ALLOWED',
  'BOOT_POLICY_DBX_INCOMPLETE',
  'BOOT_POLICY_APPLICATION_NOT_ALLOWED',
  'BOOT_POLICY_FILE_NOT_ALLOWED',
  'BOOT_POLICY_CMDLINE_NOT_ALLOWED',
] as const;
