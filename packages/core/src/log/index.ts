export type { Checkpoint, CheckpointOpening } from './checkpoint.ts';
export { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
export type { LogErrorCode } from './codes.ts';
export { LOG_ERROR_CODES } from './codes.ts';
export {
  derEcdsaSignature,
  ecdsaNoteKeyId,
  ecdsaNoteSigner,
  ecdsaNoteVerifier,
  NOTE_SIG_ECDSA,
} from './ecdsa.ts';
export { EMPTY_ROOT, LOG_HASH_SIZE, leafHash, nodeHash } from './hash.ts';
export { verifyCheckpointExtends, verifyReceiptInCheckpoint } from './link.ts';
export type { Note, NoteOpening, NoteSignature } from './note.ts';
export {
  formatSignatureLine,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  openNote,
  parseNote,
  signNote,
  verifyNote,
} from './note.ts';
export { isLogAgentName, LOG_ORIGIN_PREFIX, logOrigin } from './origin.ts';
export type { ConsistencyProof, InclusionProof } from './prove.ts';
export {
  consistencyProof,
  consistencyProofLength,
  inclusionProof,
  inclusionProofLength,
} from './prove.ts';
export type { LogRun } from './run.ts';
export {
  formatRunLine,
  isRunLine,
  parseRunLine,
  RUN_LINE_KEYWORD,
  RUN_ZERO,
  runOfCheckpoint,
} from './run.ts';
export type { TreeNodes } from './tree.ts';
export { MemoryTree, rootAt, rootFromLeafHashes, splitPoint, subtreeHash } from './tree.ts';
export type { LogVerification } from './verify.ts';
export { verifyConsistency, verifyInclusion } from './verify.ts';
export type { NoteSigner, NoteVerifier } from './vkey.ts';
export {
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatVerifierKey,
  isValidKeyName,
  keyIdHex,
  NOTE_SIG_ED25519,
  noteKeyId,
  parseVerifierKey,
} from './vkey.ts';
export type { ConsistencyProofJson, InclusionProofJson } from './wire.ts';
export {
  decodeConsistencyProof,
  decodeInclusionProof,
  encodeConsistencyProof,
  encodeInclusionProof,
  MAX_PROOF_HASHES,
  PROOF_VERSION,
} from './wire.ts';
