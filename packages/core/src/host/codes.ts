/**
 * Failure codes of the kernel-log appraisal (docs/evidence.md, "Host integrity"): named in
 * checks, never thrown.
 */
export const HOST_FAILURE_CODES = [
  'KERNEL_LOG_ABSENT',
  'HOST_FILE_NOT_ALLOWED',
  'BOOT_AGGREGATE_MISMATCH',
  'BOOT_LOG_ABSENT',
  'BOOT_PCRS_CHANGED',
  'WEIGHTS_NOT_MEASURED',
  'TELEMETRY_TOOL_NOT_ALLOWED',
  'TELEMETRY_TOOL_NOT_MEASURED',
  'HOST_STATE_EVICTED',
  'UPSTREAM_NOT_LOCAL',
  'UPSTREAM_WEIGHTS_NOT_MEASURED',
  'UPSTREAM_WEIGHTS_NOT_ALLOWED',
] as const;
