// `@tmb/core/telemetry`: the telemetry formats an agent writes and a verifier checks
// (docs/telemetry.md): batch bytes, the batch chain, and the checkpoint's `tmb-telemetry` line.
export type { TelemetryBatch } from './batch.ts';
export { telemetryBatchBytes } from './batch.ts';
export { chainHead, GENESIS_HEAD, nextHead, TELEMETRY_CHAIN_DOMAIN } from './chain.ts';
export type { TelemetryLine } from './line.ts';
export {
  formatTelemetryLine,
  isTelemetryLine,
  parseTelemetryLine,
  TELEMETRY_LINE_KEYWORD,
} from './line.ts';
