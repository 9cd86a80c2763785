export { checkpointSigner, checkpointVerifierKey } from './note.ts';
export { LOG_FORMAT, LOG_STEPS } from './schema.ts';
export type { StoredCheckpoint, StoredRun } from './tree.ts';
export { ReceiptLog } from './tree.ts';
