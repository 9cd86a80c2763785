import type { GpuSample } from './sample.ts';

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

const NUMBER = /^-?\d+(?:\.\d+)?$/;

/** A cell's value, or the reason it has none. */
export type Cell =
  | { ok: true; value: number }
  | { ok: false; reason: 'not-available' | 'not-supported' | 'tool-error' | 'not-a-number' | 'wrong-unit' };

/**
 * Reads a numeric cell printed with or without its unit (`62.87 W` or `62.87`), and the
 * bracketed messages nvidia-smi prints instead of a value.
 */
export function parseNumericCell(raw: string, unit: string): Cell {
  if (raw.startsWith('[')) {
    if (raw === '[N/A]') return { ok: false, reason: 'not-available' };
    if (raw === '[Not Supported]') return { ok: false, reason: 'not-supported' };
    return { ok: false, reason: 'tool-error' };
  }
  if (raw === 'N/A') return { ok: false, reason: 'not-available' };
  let text = raw;
  const space = raw.lastIndexOf(' ');
  if (space !== -1) {
    if (raw.slice(space + 1) !== unit) return { ok: false, reason: 'wrong-unit' };
    text = raw.slice(0, space);
  }
  if (!NUMBER.test(text)) return { ok: false, reason: 'not-a-number' };
  return { ok: true, value: Number(text) };
}

/**
 * Longest GPU name or UUID kept: NVML's buffers for both are 96 bytes with the terminating NUL
 * (NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE in nvml.h).
 */
export const MAX_IDENTITY = 95;

/**
 * A UUID as NVML prints it: `GPU-` (a whole GPU) or `MIG-` (a MIG instance), then hex groups
 * separated by dashes; any letter is accepted, not only hex, since nothing is read from it.
 */
const UUID = /^(?:GPU|MIG)-[0-9A-Za-z-]{1,91}$/;
/** Printable ASCII, no leading or trailing space: GPU product names are plain ASCII. */
const NAME = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A text cell's value, or the reason it has none. */
export type TextCell =
  | { ok: true; value: string }
  | { ok: false; reason: 'not-available' | 'not-supported' | 'tool-error' | 'bad-identity' };

/**
 * Reads a GPU identity cell or label (attacker-influenced text that ends up in verdicts): a
 * `name` must be 1-95 printable ASCII characters without surrounding space, a `uuid` must be
 * `GPU-` or `MIG-` and up to 91 letters, digits and dashes. nvidia-smi's bracketed messages
 * mean no value; anything else is `bad-identity`.
 */
export function parseIdentityCell(raw: string, kind: 'name' | 'uuid'): TextCell {
  if (raw.startsWith('[')) {
    if (raw === '[N/A]') return { ok: false, reason: 'not-available' };
    if (raw === '[Not Supported]') return { ok: false, reason: 'not-supported' };
    return { ok: false, reason: 'tool-error' };
  }
  if (raw === 'N/A') return { ok: false, reason: 'not-available' };
  if (raw.length > MAX_IDENTITY) return { ok: false, reason: 'bad-identity' };
  return (kind === 'uuid' ? UUID : NAME).test(raw)
    ? { ok: true, value: raw }
    : { ok: false, reason: 'bad-identity' };
}

/** The field name of a header cell: `power.draw [W]` → `power.draw`. */
export function headerName(cell: string): string {
  const b = cell.indexOf(' [');
  return b === -1 ? cell : cell.slice(0, b);
}
