import { readFile as fsReadFile } from 'node:fs/promises';
import { TelemetryCounts } from '../counts.ts';
import type { ProcSample } from '../sample.ts';
import { parseProcStat, parseProcStatus } from './proc-parse.ts';

/** Options of ProcSampler. */
export interface ProcSamplerOptions {
  pid: number;
  /** Reads a file as text. Default node:fs/promises readFile. */
  readFile?: (path: string) => Promise<string>;
  /** USER_HZ, the unit of /proc/<pid>/stat times. Default 100 (every mainstream Linux build). */
  ticksPerSecond?: number;
  /** Monotonic clock, ms. Default performance.now. */
  now?: () => number;
  /** Root of procfs. Default /proc. */
  procRoot?: string;
}

/**
 * Samples an engine process's CPU time and RSS from /proc/<pid>/stat and /proc/<pid>/status,
 * for engines that run on the CPU. A read failure or malformed file is counted, never thrown.
 */
export class ProcSampler {
  readonly counts = new TelemetryCounts();
  readonly #o: Required<ProcSamplerOptions>;
  #startTicks: number | undefined;

  constructor(o: ProcSamplerOptions) {
    this.#o = {
      readFile: (p) => fsReadFile(p, 'utf8'),
      ticksPerSecond: 100,
      now: () => performance.now(),
      procRoot: '/proc',
      ...o,
    };
  }

  /** One sample, or undefined (counted) when the process is gone or the files are malformed. */
  async sample(): Promise<ProcSample | undefined> {
    const base = `${this.#o.procRoot}/${this.#o.pid}`;
    let statText: string;
    let statusText: string;
    try {
      [statText, statusText] = await Promise.all([
        this.#o.readFile(`${base}/stat`),
        this.#o.readFile(`${base}/status`),
      ]);
    } catch {
      this.counts.add('fetch-failed');
      return undefined;
    }
    const st = parseProcStat(statText);
    const status = parseProcStatus(statusText);
    if (st === undefined || st.pid !== this.#o.pid || status.rssBytes === undefined) {
      this.counts.add('proc-malformed');
      return undefined;
    }
    // A different start time means the pid was reused by another process: CPU time restarts.
    if (this.#startTicks !== undefined && st.startTicks !== this.#startTicks)
      this.counts.add('counter-reset');
    this.#startTicks = st.startTicks;
    return {
      t: this.#o.now(),
      pid: st.pid,
      cpuSeconds: (st.utimeTicks + st.stimeTicks) / this.#o.ticksPerSecond,
      rssBytes: status.rssBytes,
    };
  }
}
