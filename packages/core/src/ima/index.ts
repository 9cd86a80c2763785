// The model registry is appraised over the same entries; exported here until core's package
// map has its own `./registry` subpath.
export * from '../registry/index.ts';
export type { AllowedDigests, Appraisal, AppraiseOptions, CompiledPolicy, EntryFailure } from './appraise.ts';
export { appraisalCheck, appraise, compilePolicy } from './appraise.ts';
export { appraiseColumns } from './appraise-columns.ts';
export { parseAsciiLog } from './ascii.ts';
export { parseBinaryColumns, parseBinaryLog } from './binary.ts';
export { IMA_ERROR_CODES } from './codes.ts';
export type { EntrySlots } from './column-builder.ts';
export { columnsOf } from './column-builder.ts';
export { ImaColumns } from './columns.ts';
export type { CreatePolicyOptions } from './create.ts';
export { createPolicy } from './create.ts';
export type { PolicyChange } from './diff.ts';
export { diffPolicies } from './diff.ts';
export { ImaParseError } from './error.ts';
export type {
  AdvanceColumnsResult,
  AdvanceOptions,
  AdvanceResult,
  ImaEvidence,
  ImaState,
} from './incremental.ts';
export { advanceIma, advanceImaColumns, initialImaState } from './incremental.ts';
export type { LogForm } from './parse.ts';
export { detectForm, parseLog, parseLogColumns } from './parse.ts';
export type { RuntimePolicy, RuntimePolicyMeta } from './policy.ts';
export { compileExcludes, parseRuntimePolicy } from './policy.ts';
export type { ReplayOptions, ReplayResult } from './replay.ts';
export { extendDigest, extendPcr, pcrInitialValue, replay, templateHashInput } from './replay.ts';
export { replayColumns } from './replay-columns.ts';
export type { FileDigestAlg, ParseOptions, PcrBank, TemplateName } from './types.ts';
export { FILE_DIGEST_ALGS, IMA_LIMITS, IMA_PCR, ImaEntry, PCR_BANKS, TEMPLATES } from './types.ts';
export type { EntryFields } from './write.ts';
export { buildEntry, encodeBinaryLog, entryToAscii, entryToBinary, formatAsciiLog } from './write.ts';
