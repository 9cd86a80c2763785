export { LOG_FORMAT } from './schema.ts';
export { checkpointSigner, checkpointVerifierKey } from './signer.ts';
export type { StoredCheckpoint } from './store.ts';
export { ReceiptLog } from './store.ts';
