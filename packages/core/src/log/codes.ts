/**
 * Error codes of the log area: signed notes, checkpoints and Merkle proofs
 * (docs/checkpoint.md, docs/proofs.md, docs/errors.md).
 */
export const LOG_ERROR_CODES = [
  'NOTE_MALFORMED',
  'NOTE_TOO_LARGE',
  'NOTE_KEY_MALFORMED',
  'NOTE_SIGNATURE_INVALID',
  'NOTE_NO_KNOWN_SIGNER',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_ORIGIN_MISMATCH',
  'CHECKPOINT_ROOT_MISMATCH',
  'CHECKPOINT_SIZE_MISMATCH',
  'PROOF_MALFORMED',
  'PROOF_VERSION_UNSUPPORTED',
  'PROOF_RANGE_INVALID',
  'PROOF_LENGTH_INVALID',
  'INCLUSION_PROOF_INVALID',
  'CONSISTENCY_PROOF_INVALID',
  // Log runs (docs/checkpoint.md, "The run line").
  'LOG_RUN_LINE_INVALID',
] as const;

/** A code of the log area. */
export type LogErrorCode = (typeof LOG_ERROR_CODES)[number];
