export { SampleBuffer } from './buffer.ts';
export type { SampleBatch } from './chain.ts';
export { BatchChain, batchBytes, chainHead, GENESIS_HEAD, nextHead } from './chain.ts';
export type { Cell, TextCell } from './collect/cells.ts';
export { MAX_IDENTITY, parseIdentityCell, parseNumericCell } from './collect/cells.ts';
export type { DcgmCollectorOptions, DcgmScrapeOptions } from './collect/dcgm.ts';
export { DcgmCollector, scrapeDcgm } from './collect/dcgm.ts';
export { parseDcgm } from './collect/dcgm-parse.ts';
export type { NvSmiCollectorOptions } from './collect/nvsmi.ts';
export { NvSmiCollector } from './collect/nvsmi.ts';
export type { NvSmiField } from './collect/nvsmi-fields.ts';
export {
  DEFAULT_NVSMI_QUERY,
  NVSMI_FIELDS,
  NVSMI_METRIC_FIELDS,
  parseNvSmiTimestamp,
} from './collect/nvsmi-fields.ts';
export type { NvSmiParserOptions } from './collect/nvsmi-parse.ts';
export { MAX_LINE, NvSmiParser } from './collect/nvsmi-parse.ts';
export type { ProcSamplerOptions } from './collect/proc.ts';
export { ProcSampler } from './collect/proc.ts';
export type { ProcStat, ProcStatus } from './collect/proc-parse.ts';
export { parseProcStat, parseProcStatus } from './collect/proc-parse.ts';
export type { MetricLine } from './collect/prometheus.ts';
export { parsePrometheusText } from './collect/prometheus.ts';
export type { ChildLike, SpawnFn } from './collect/spawn.ts';
export { defaultSpawn, LineSplitter } from './collect/spawn.ts';
export type { TelemetryReason } from './counts.ts';
export { TELEMETRY_REASONS, TelemetryCounts } from './counts.ts';
export type { GpuSample, ProcSample } from './sample.ts';
export type { GpuSource, SourceOptions, SourceSinks } from './sources.ts';
export { checkSourceOptions, TelemetrySources } from './sources.ts';
export type { StreamCounts, TelemetryStreamOptions } from './stream.ts';
export { TelemetryStream, telemetryExtension, telemetryHead } from './stream.ts';
export { resolveExecutable } from './tool.ts';
