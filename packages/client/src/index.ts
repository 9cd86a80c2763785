export type { BoundResult, Unsigned } from './bound.ts';
export { attestationDigest, bindingCheck } from './bound.ts';
export type {
  Bundle,
  BundleBatch,
  BundleEvidence,
  BundlePolicy,
  BundleResult,
  VerifyBundleOptions,
} from './bundle/index.ts';
export {
  BUNDLE_LIMITS,
  batchBundles,
  decodeBundle,
  expandBatch,
  fetchBundle,
  MAX_BATCH_ITEMS,
  verifyBundle,
  verifyBundleBatch,
} from './bundle/index.ts';
export type { BodyEnd, CapturedBody } from './capture.ts';
export { captureBody } from './capture.ts';
export { checkResult, verifyResult } from './ear.ts';
export type { ClientErrorCode } from './errors.ts';
export { CLIENT_ERROR_CODES, ClientError } from './errors.ts';
export type { VerifiedFetch } from './fetch.ts';
export { createVerifiedFetch } from './fetch.ts';
export type { ReceiptResult, VerifyReceiptOptions } from './receipt.ts';
export { verifyReceipt } from './receipt.ts';
export { appraiseExchange, CLIENT_CHECKS } from './result.ts';
export type { ClientCheck, ClientResult, VerifiedFetchOptions, VerifierKey } from './types.ts';
export type { ReceiptSource, VerifierAnswer } from './verifier.ts';
export { fetchReceipt } from './verifier.ts';
