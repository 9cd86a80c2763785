// The model registry is appraised over the same entries; exported here until core's package
// map has its own `./registry` subpath.
export * from '../registry/index.ts';
export type { AllowedDigests, Appraisal, AppraiseOptions, CompiledPolicy, EntryFailure } from './appraise.ts';
export { appraisalCheck, appraise, compilePolicy, violationRule } from './appraise.ts';
export { appraiseColumns } from './appraise-columns.ts';
export { MAX_ASCII_LINE, parseAsciiColumns, parseAsciiLog } from './ascii.ts';
export { binaryTemplateHashAlg, parseBinaryColumns, parseBinaryLog } from './binary.ts';
export { IMA_ERROR_CODES } from './codes.ts';
export type { EntrySlots } from './column-builder.ts';
export { columnsOf } from './column-builder.ts';
export { ImaColumns } from './columns.ts';
export type { ConvertOptions, CreatePolicyOptions } from './create.ts';
export { convertAllowlist, createPolicy } from './create.ts';
export type { PolicyChange } from './diff.ts';
export { diffPolicies } from './diff.ts';
export type { DsseEnvelope, EnvelopeOptions, OpenedEnvelope } from './dsse.ts';
export { KEYLIME_POLICY_PAYLOAD_TYPE, keylimeKeyId, openEnvelope, pae, signEnvelope } from './dsse.ts';
export { ImaParseError } from './error.ts';
export type { HostRole } from './events.ts';
export {
  AGENT_BUILD_EVENT,
  AGENT_KEY_EVENT,
  HOST_ROLES,
  MANIFEST_EVENT,
  ROLE_EVENT,
  SIMULATED_KERNEL_EVENT,
} from './events.ts';
export type { PathMatcher } from './excludes.ts';
export type {
  AdvanceColumnsResult,
  AdvanceOptions,
  AdvanceResult,
  ImaEvidence,
  ImaState,
} from './incremental.ts';
export { advanceIma, advanceImaColumns, initialImaState } from './incremental.ts';
export type { ViolationRule } from './judge.ts';
export type { LogForm, LogReaderOptions } from './parse.ts';
export { detectForm, LogReader, parseLog, parseLogColumns } from './parse.ts';
export type { OpenedPolicy, PolicyOptions, RuntimePolicy, RuntimePolicyMeta } from './policy.ts';
export { compileExcludes, MAX_POLICY_DEPTH, openRuntimePolicy, parseRuntimePolicy } from './policy.ts';
export { EXCLUDE_LIMITS, pythonToRe2 } from './regex.ts';
export type { ReplayOptions, ReplayResult } from './replay.ts';
export { extendDigest, extendPcr, pcrInitialValue, replay, templateHashInput } from './replay.ts';
export { replayColumns, templateHashFailures } from './replay-columns.ts';
export { displayPath, pathBytes, pathText } from './strings.ts';
export type { FileDigestAlg, ParseOptions, PcrBank, TemplateHashAlg, TemplateName } from './types.ts';
export { FILE_DIGEST_ALGS, IMA_LIMITS, IMA_PCR, ImaEntry, PCR_BANKS, TEMPLATES } from './types.ts';
export type { EntryFields } from './write.ts';
export { buildEntry, encodeBinaryLog, entryToAscii, entryToBinary, formatAsciiLog } from './write.ts';
