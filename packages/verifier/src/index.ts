export type { ReceiptResult } from './appraise/receipt.ts';
export { appraiseReceipt as appraise } from './appraise/receipt.ts';
export type { VerdictSources } from './appraise/verdict.ts';
export { composeVerdict } from './appraise/verdict.ts';
export type { Grant } from './auth.ts';
export { TokenAuth } from './auth.ts';
export type { ResultBinding, ResultKeyJwk, ResultSigner, ResultSignerOptions } from './ear.ts';
export {
  createResultSigner,
  EAR_ISSUER,
  EAR_PROFILE,
  EAR_SUBMOD,
  EAR_TTL_SECONDS,
  earStatus,
  loadOrCreateResultKey,
} from './ear.ts';
export type { VerifierErrorCode } from './errors.ts';
export { VERIFIER_ERROR_CODES, VERIFIER_ERROR_STATUS, VerifierError } from './errors.ts';
export type { AgentLock } from './lock.ts';
export { KeyedLock } from './lock.ts';
export type { LogFields, Logger, LoggerOptions, LogLevel, LogSink } from './log.ts';
export { createLogger, LOG_LEVELS, SILENT_LOGGER } from './log.ts';
export { VerifierMetrics } from './metrics.ts';
export type { RateLimitOptions, TokenEntry, VerifierOptions } from './options.ts';
export { resolveOptions } from './options.ts';
export type { Rejection } from './receipt/push.ts';
export type { RunningVerifier } from './server.ts';
export { startVerifier } from './server.ts';
export type { DatabasePoolOptions, OpenedStore, OpenStoreOptions } from './store/open.ts';
export { openStore } from './store/open.ts';
export { PgStore, type PgStoreOptions } from './store/pg.ts';
export { redactUrl } from './store/pg-connect.ts';
export type { SqliteStoreOptions } from './store/sqlite.ts';
export { SqliteStore, VERIFIER_MIGRATIONS } from './store/sqlite.ts';
export type { KeyRecord, Store, StoredReceipt } from './store/types.ts';
export type { ExtensionCheck } from './telemetry/extension.ts';
export { checkTelemetryExtension } from './telemetry/extension.ts';
export type { TelemetryFinding } from './telemetry/link.ts';
export type { LoadedProfile } from './telemetry/profiles.ts';
export {
  ProfileRegistry,
  profileKeyFromText,
  profileSigningMessage,
  verifyProfileText,
} from './telemetry/profiles.ts';
export type { VerifierTelemetryOptions } from './telemetry/service.ts';
export { TelemetryService } from './telemetry/service.ts';
