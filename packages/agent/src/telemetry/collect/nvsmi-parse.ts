import { TelemetryCounts } from '../counts.ts';
import type { GpuSample } from '../sample.ts';
import { headerName, parseIdentityCell, parseNumericCell } from './cells.ts';
import { NVSMI_FIELDS, type NvSmiField, parseNvSmiTimestamp } from './nvsmi-fields.ts';

/** Options of NvSmiParser. */
export interface NvSmiParserOptions {
  /**
   * The --query-gpu fields in order, for `--format=csv,noheader`. Left out: the first line
   * must be the header that `--format=csv` prints, and names the columns.
   */
  fields?: readonly string[];
  /**
   * Largest allowed gap between how far the tool's timestamp and the agent's monotonic clock
   * moved between two lines of one GPU, ms. Default 2000: nvidia-smi -lms can lag a busy
   * driver by a sample or two, while an NTP step is usually seconds or more.
   */
  clockToleranceMs?: number;
}

/** Longest line read; nvidia-smi's longest query line is a few hundred bytes. */
export const MAX_LINE = 4096;

interface GpuState {
  toolTime: number;
  mono: number;
  energyJ: number;
}

/**
 * A stateful parser of one `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`
 * stream, line by line. It never throws: bad lines and cells are counted in `counts` under a
 * TelemetryReason and dropped, and the stream goes on. It follows the format nvidia-smi
 * prints: cells separated by ", ", values optionally followed by a space and their unit,
 * `[N/A]` / `[Not Supported]` in place of values (test/telemetry/vectors/).
 */
export class NvSmiParser {
  readonly counts = new TelemetryCounts();
  #columns: (NvSmiField | undefined)[] | undefined;
  readonly #tolerance: number;
  readonly #gpus = new Map<number, GpuState>();

  constructor(options: NvSmiParserOptions = {}) {
    this.#tolerance = options.clockToleranceMs ?? 2000;
    if (options.fields !== undefined) this.setFields(options.fields);
  }

  /** Reads later lines as `--format=csv,noheader` lines of these fields (the tool was restarted with them). */
  setFields(fields: readonly string[]): void {
    this.#columns = fields.map((f) => NVSMI_FIELDS[f]);
  }

  /** Parses one line read at monotonic time `now` (ms); returns the sample, or undefined when dropped. */
  line(raw: string, now: number): GpuSample | undefined {
    if (raw.length > MAX_LINE) {
      this.counts.add('line-too-long');
      return undefined;
    }
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return undefined;
    const cells = text.split(',').map((c) => c.trim());
    if (this.#isHeader(cells)) {
      if (this.#columns !== undefined) this.counts.add('header-repeated');
      this.#columns = cells.map((c) => {
        const f = NVSMI_FIELDS[headerName(c)];
        if (f === undefined) this.counts.add('unknown-field');
        return f;
      });
      return undefined;
    }
    const cols = this.#columns;
    if (cols === undefined) {
      this.counts.add('missing-column');
      return undefined;
    }
    if (cells.length !== cols.length) {
      this.counts.add(cells.length < cols.length ? 'missing-column' : 'extra-column');
      return undefined;
    }
    const s: GpuSample = { t: now, gpu: 0 };
    for (let i = 0; i < cols.length; i++) {
      const f = cols[i];
      const cell = cells[i]!;
      if (f === undefined) continue;
      if (f.key === 'name' || f.key === 'uuid') {
        const id = parseIdentityCell(cell, f.key);
        if (id.ok) s[f.key] = id.value;
        else this.counts.add(id.reason);
        continue;
      }
      if (f.key === 'toolTime') {
        const tt = parseNvSmiTimestamp(cell);
        if (Number.isNaN(tt)) {
          this.counts.add('bad-timestamp');
          return undefined;
        }
        s.toolTime = tt;
        continue;
      }
      const v = parseNumericCell(cell, f.unit);
      if (!v.ok) {
        if (f.key === 'gpu') {
          this.counts.add('no-gpu');
          return undefined;
        }
        this.counts.add(v.reason);
        continue;
      }
      if (f.key === 'gpu') {
        s.gpu = v.value;
        continue;
      }
      if (v.value < 0) {
        this.counts.add('negative');
        continue;
      }
      if (f.percent === true && v.value > 100) {
        this.counts.add('out-of-range');
        continue;
      }
      s[f.key] = v.value / (f.divisor ?? 1);
    }
    return this.#order(s) ? s : undefined;
  }

  /** Checks time order and clock agreement per GPU, and notes energy-counter resets. */
  #order(s: GpuSample): boolean {
    const prev = this.#gpus.get(s.gpu);
    if (prev !== undefined && s.toolTime !== undefined && !Number.isNaN(prev.toolTime)) {
      if (s.toolTime < prev.toolTime) {
        this.counts.add('time-backwards');
        return false;
      }
      const drift = s.toolTime - prev.toolTime - (s.t - prev.mono);
      if (Math.abs(drift) > this.#tolerance) {
        this.counts.add('clock-jump');
        // Re-anchor so the stream resumes on the next line.
        this.#gpus.set(s.gpu, { toolTime: s.toolTime, mono: s.t, energyJ: prev.energyJ });
        return false;
      }
    }
    if (prev !== undefined && s.energyJ !== undefined && s.energyJ < prev.energyJ)
      this.counts.add('counter-reset');
    this.#gpus.set(s.gpu, {
      toolTime: s.toolTime ?? Number.NaN,
      mono: s.t,
      energyJ: s.energyJ ?? prev?.energyJ ?? Number.NEGATIVE_INFINITY,
    });
    return true;
  }

  /** A header line: its first cell names a known field (a data line starts with a value). */
  #isHeader(cells: string[]): boolean {
    return NVSMI_FIELDS[headerName(cells[0]!)] !== undefined;
  }
}
