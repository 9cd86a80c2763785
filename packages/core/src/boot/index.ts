export type { BootAppraisal } from './appraise.ts';
export { appraiseBootLog, bootAggregate } from './appraise.ts';
export { BOOT_ERROR_CODES } from './codes.ts';
export type { BootFacts, KeyDatabase } from './facts.ts';
export { bootFacts, KEY_DATABASES, SIMULATED_FIRMWARE_MARKER } from './facts.ts';
export { MAX_BOOT_LOG_BYTES, MAX_EVENT_DATA_BYTES, parseEventLog } from './parse.ts';
export type { BootPolicy, BootPolicyJson } from './policy.ts';
export { parseBootPolicy } from './policy.ts';
export type { ReplayedPcrs } from './replay.ts';
export { replayEventLog, startupLocality } from './replay.ts';
export type { BootEvent, EventDigest, EventLog, EventTypeName, SpecId, SpecIdAlgorithm } from './types.ts';
export { BootAlg, EventType, eventTypeName } from './types.ts';
export type { UefiVariable } from './variable.ts';
export {
  decodeVariable,
  EFI_CERT_SHA256,
  EFI_CERT_X509,
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  guidString,
  signatureEntries,
  utf16,
} from './variable.ts';
export type { EventInput } from './write.ts';
export { measuredEvent, noActionEvent, specIdFor, writeEventLog } from './write.ts';
