import { TelemetryCounts } from '../counts.ts';
import type { GpuSample } from '../sample.ts';
import { parseIdentityCell } from './cells.ts';
import { parsePrometheusText } from './prometheus.ts';

type Key =
  | 'powerW'
  | 'energyJ'
  | 'utilGpu'
  | 'utilMem'
  | 'memUsedMiB'
  | 'smClockMHz'
  | 'memClockMHz'
  | 'tempC';

/** dcgm-exporter metric names read into a GpuSample, with their units (dcgm-exporter default-counters.csv). */
const DCGM_METRICS: Readonly<Record<string, { key: Key; divisor?: number; percent?: boolean }>> = {
  DCGM_FI_DEV_POWER_USAGE: { key: 'powerW' },
  DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION: { key: 'energyJ', divisor: 1000 },
  DCGM_FI_DEV_GPU_UTIL: { key: 'utilGpu', percent: true },
  DCGM_FI_DEV_MEM_COPY_UTIL: { key: 'utilMem', percent: true },
  DCGM_FI_DEV_FB_USED: { key: 'memUsedMiB' },
  DCGM_FI_DEV_SM_CLOCK: { key: 'smClockMHz' },
  DCGM_FI_DEV_MEM_CLOCK: { key: 'memClockMHz' },
  DCGM_FI_DEV_GPU_TEMP: { key: 'tempC' },
};

/**
 * DCGM marks a missing value with "blank" sentinels near the top of its range
 * (DCGM_INT64_BLANK = 0x7ffffffffffffff0, DCGM_FP64_BLANK = 140737488355328.0, dcgm_structs.h);
 * dcgm-exporter prints them as numbers (e.g. DCGM_FI_DEV_MEMORY_TEMP 9223372036854775794 in its
 * README). Anything at or above 2^47 is treated as blank; an energy counter reaches that after
 * 1.4e11 J, six years at 700 W.
 */
const DCGM_BLANK = 140737488355328;

/** Sets a sample's uuid or name from a label (dcgm-exporter's `UUID`, `modelName`), or counts why not. */
function identity(
  s: GpuSample,
  kind: 'uuid' | 'name',
  label: string | undefined,
  counts: TelemetryCounts,
): void {
  if (label === undefined) return;
  const v = parseIdentityCell(label, kind);
  if (v.ok) s[kind] = v.value;
  else counts.add(v.reason);
}

/**
 * Turns one dcgm-exporter scrape (Prometheus text) into one sample per GPU, keyed by the `gpu`
 * label, all stamped `now`, with the GPU's `UUID` and `modelName` labels (where the exporter
 * prints them; dcgm-exporter 3.x and later print modelName) as uuid and name, taken from the
 * GPU's first metric line. DCGM_FI_PROF_* metrics go into `prof` as fractions. Never throws;
 * bad lines, values and identity labels are counted in the returned counts.
 */
export function parseDcgm(text: string, now: number): { samples: GpuSample[]; counts: TelemetryCounts } {
  const counts = new TelemetryCounts();
  const byGpu = new Map<number, GpuSample>();
  for (const m of parsePrometheusText(text, counts)) {
    const known = DCGM_METRICS[m.name];
    const prof = m.name.startsWith('DCGM_FI_PROF_') ? m.name.slice('DCGM_FI_PROF_'.length) : undefined;
    if (known === undefined && prof === undefined) continue;
    const g = m.labels.gpu;
    if (g === undefined || !/^\d{1,4}$/.test(g)) {
      counts.add('no-gpu');
      continue;
    }
    const gpu = Number(g);
    let s = byGpu.get(gpu);
    if (s === undefined) {
      s = { t: now, gpu };
      identity(s, 'uuid', m.labels.UUID, counts);
      identity(s, 'name', m.labels.modelName, counts);
      byGpu.set(gpu, s);
    }
    const v = m.value;
    if (!Number.isFinite(v)) {
      counts.add('not-a-number');
      continue;
    }
    if (v >= DCGM_BLANK) {
      counts.add('not-available');
      continue;
    }
    if (v < 0) {
      counts.add('negative');
      continue;
    }
    if (prof !== undefined) {
      s.prof = { ...s.prof, [prof]: v };
      continue;
    }
    if (known!.percent === true && v > 100) {
      counts.add('out-of-range');
      continue;
    }
    s[known!.key] = v / (known!.divisor ?? 1);
  }
  return { samples: [...byGpu.values()].sort((a, b) => a.gpu - b.gpu), counts };
}
