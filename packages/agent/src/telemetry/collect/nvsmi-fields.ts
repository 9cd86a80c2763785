import type { GpuSample } from '../sample.ts';

/** How one nvidia-smi --query-gpu field is read. */
export interface NvSmiField {
  /** Where the value goes in a GpuSample. */
  key:
    | 'toolTime'
    | 'gpu'
    | 'uuid'
    | 'name'
    | Exclude<keyof GpuSample, 't' | 'gpu' | 'uuid' | 'name' | 'toolTime' | 'prof'>;
  /** The unit nvidia-smi prints after the value without `nounits` (and in the header), or '' for none. */
  unit: string;
  /** Divisor into the GpuSample's unit (1000: mJ to J); division keeps 123.456 exact where x 1e-3 would not. */
  divisor?: number;
  /** A percentage, so over 100 is out of range. */
  percent?: boolean;
}

/**
 * The --query-gpu fields the collector understands, by the names nvidia-smi accepts and
 * prints in its header (`nvidia-smi --help-query-gpu`). Aliases map to the same key.
 */
export const NVSMI_FIELDS: Readonly<Record<string, NvSmiField>> = {
  timestamp: { key: 'toolTime', unit: '' },
  index: { key: 'gpu', unit: '' },
  uuid: { key: 'uuid', unit: '' },
  name: { key: 'name', unit: '' },
  'power.draw': { key: 'powerW', unit: 'W' },
  'power.draw.average': { key: 'powerW', unit: 'W' },
  'power.draw.instant': { key: 'powerInstantW', unit: 'W' },
  total_energy_consumption: { key: 'energyJ', unit: 'mJ', divisor: 1000 },
  'utilization.gpu': { key: 'utilGpu', unit: '%', percent: true },
  'utilization.memory': { key: 'utilMem', unit: '%', percent: true },
  'memory.used': { key: 'memUsedMiB', unit: 'MiB' },
  'clocks.sm': { key: 'smClockMHz', unit: 'MHz' },
  'clocks.current.sm': { key: 'smClockMHz', unit: 'MHz' },
  'clocks.mem': { key: 'memClockMHz', unit: 'MHz' },
  'clocks.current.memory': { key: 'memClockMHz', unit: 'MHz' },
  'temperature.gpu': { key: 'tempC', unit: '' },
};

/** The metrics of the default query (issue 5): everything every current driver prints. */
export const NVSMI_METRIC_FIELDS = [
  'timestamp',
  'index',
  'power.draw',
  'total_energy_consumption',
  'utilization.gpu',
  'utilization.memory',
  'memory.used',
  'clocks.sm',
  'clocks.mem',
  'temperature.gpu',
] as const;

/**
 * The collector's default query: NVSMI_METRIC_FIELDS with the GPU's identity (uuid, name)
 * after the index, on every line, so every sample says which GPU it was read from and the
 * verifier can hold it against the profile's GPU model (docs/telemetry.md, "GPU identity").
 */
export const DEFAULT_NVSMI_QUERY = [
  'timestamp',
  'index',
  'uuid',
  'name',
  ...NVSMI_METRIC_FIELDS.slice(2),
] as const;

/**
 * nvidia-smi's timestamp, `2026/05/09 03:57:48.161` (local time, no zone), as ms since 1970
 * read as if UTC: only differences are used, so the zone does not matter. NaN when it does
 * not parse.
 */
export function parseNvSmiTimestamp(s: string): number {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(s);
  if (m === null) return Number.NaN;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return Number.NaN;
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  return Date.UTC(y, mo - 1, d, h, mi, se, ms);
}
