export { LOG_FORMAT, LOG_STEPS } from './schema.ts';
export { checkpointSigner, checkpointVerifierKey } from './signer.ts';
export type { StoredCheckpoint, StoredRun } from './store.ts';
export { ReceiptLog } from './store.ts';
