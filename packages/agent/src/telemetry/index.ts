export type { ComputeApp } from './apps.ts';
export { parseComputeApps } from './apps.ts';
export { SampleBuffer } from './buffer.ts';
export type { SampleBatch } from './chain.ts';
export { BatchChain, batchBytes, chainHead, GENESIS_HEAD, nextHead } from './chain.ts';
export type { ComputeAppsOptions } from './collect/apps.ts';
export { queryComputeApps } from './collect/apps.ts';
export type { DcgmScrapeOptions } from './collect/dcgm.ts';
export { DcgmCollector, scrapeDcgm } from './collect/dcgm.ts';
export type { NvSmiCollectorOptions } from './collect/nvsmi.ts';
export { NvSmiCollector } from './collect/nvsmi.ts';
export type { ProcSamplerOptions } from './collect/proc.ts';
export { ProcSampler } from './collect/proc.ts';
export type { ChildLike, SpawnFn } from './collect/spawn.ts';
export { defaultSpawn, LineSplitter } from './collect/spawn.ts';
export type { TelemetryReason } from './counts.ts';
export { TELEMETRY_REASONS, TelemetryCounts } from './counts.ts';
export { parseDcgm } from './dcgm.ts';
export type { TextCell } from './fields.ts';
export {
  DEFAULT_NVSMI_QUERY,
  MAX_IDENTITY,
  NVSMI_FIELDS,
  NVSMI_METRIC_FIELDS,
  parseIdentityCell,
  parseNvSmiTimestamp,
} from './fields.ts';
export type { NvSmiParserOptions } from './nvsmi.ts';
export { MAX_LINE, NvSmiParser } from './nvsmi.ts';
export type { ProcStat, ProcStatus } from './procfs.ts';
export { parseProcStat, parseProcStatus } from './procfs.ts';
export type { MetricLine } from './prometheus.ts';
export { parsePrometheusText } from './prometheus.ts';
export type { GpuSample, ProcSample } from './sample.ts';
export type { StreamCounts, TelemetryStreamOptions } from './stream.ts';
export { TelemetryStream, telemetryExtension, telemetryHead } from './stream.ts';
