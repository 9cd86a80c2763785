export type { BundleBatch } from './batch.ts';
export { batchBundles, expandBatch, MAX_BATCH_ITEMS, verifyBundleBatch } from './batch.ts';
export type { DecodedEvidence } from './decode.ts';
export { BUNDLE_LIMITS, decodeBundle } from './decode.ts';
export { fetchBundle } from './fetch.ts';
export type { Bundle, BundleEvidence, BundlePolicy } from './types.ts';
export type { BundleResult, VerifyBundleOptions } from './verify.ts';
export { verifyBundle } from './verify.ts';
