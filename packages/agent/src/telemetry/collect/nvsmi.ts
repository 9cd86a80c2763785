import type { GpuSample } from '../sample.ts';
import { DEFAULT_NVSMI_QUERY } from './nvsmi-fields.ts';
import { MAX_LINE, NvSmiParser } from './nvsmi-parse.ts';
import { type ChildLike, defaultSpawn, LineSplitter, type SpawnFn } from './spawn.ts';

/** Options of NvSmiCollector. Everything but onSample has a default. */
export interface NvSmiCollectorOptions {
  /** Called for every sample that parsed. */
  onSample: (s: GpuSample) => void;
  /** Program to run. Default `nvidia-smi` (from PATH). */
  command?: string;
  /** --query-gpu fields. Default DEFAULT_NVSMI_QUERY. */
  fields?: readonly string[];
  /** Sampling period passed as `-lms`. Default 100 ms (the energy counter moves about every 100 ms). */
  intervalMs?: number;
  /** Restart the tool when it prints nothing for this long. Default max(5 s, 20 periods). */
  silenceTimeoutMs?: number;
  /** First delay before restarting a tool that exited; doubles per failed start up to 30 s. Default 1 s. */
  restartDelayMs?: number;
  /** Starts the program. Default node:child_process.spawn. */
  spawn?: SpawnFn;
  /** Monotonic clock, ms. Default performance.now. */
  now?: () => number;
}

/** What nvidia-smi prints on stdout (then exits) for a --query-gpu field the driver does not know. */
const UNSUPPORTED_FIELD = /^Field "([a-z0-9_.]{1,64})" is not a valid field to query\.?$/;

/** Fields the query cannot go without: a line without them cannot be placed in time or on a GPU. */
const REQUIRED_FIELDS: ReadonlySet<string> = new Set(['timestamp', 'index']);

/**
 * Runs `nvidia-smi --query-gpu=FIELDS --format=csv,noheader,nounits -lms N` and parses its
 * stream. The tool is restarted (with backoff) when it exits or goes silent; each restart is
 * counted as tool-restart. Bad lines are counted by the parser and never stop the stream.
 * A field the driver refuses (driver 580 on an H200 knows no `total_energy_consumption`:
 * test/telemetry/vectors/real-h200/) is counted as field-unsupported and the tool restarted
 * without it, so one missing counter never costs every other reading.
 */
export class NvSmiCollector {
  readonly parser: NvSmiParser;
  readonly #o: Required<NvSmiCollectorOptions>;
  #child: ChildLike | undefined;
  #stopped = true;
  #fields: readonly string[];
  #lastLine = 0;
  #delay: number;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #restart: ReturnType<typeof setTimeout> | undefined;

  constructor(options: NvSmiCollectorOptions) {
    const intervalMs = options.intervalMs ?? 100;
    this.#o = {
      command: 'nvidia-smi',
      fields: DEFAULT_NVSMI_QUERY,
      silenceTimeoutMs: Math.max(5000, 20 * intervalMs),
      restartDelayMs: 1000,
      spawn: defaultSpawn,
      now: () => performance.now(),
      ...options,
      intervalMs,
    };
    this.#delay = this.#o.restartDelayMs;
    this.#fields = this.#o.fields;
    this.parser = new NvSmiParser({ fields: this.#fields });
  }

  /** The --query-gpu fields in use: the ones asked for, less any the tool refused. */
  get fields(): readonly string[] {
    return this.#fields;
  }

  /** The arguments passed to the tool. */
  get args(): string[] {
    return [
      `--query-gpu=${this.#fields.join(',')}`,
      '--format=csv,noheader,nounits',
      '-lms',
      String(this.#o.intervalMs),
    ];
  }

  /** Starts the tool and the silence watchdog. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#launch();
    const every = Math.max(10, this.#o.silenceTimeoutMs / 2);
    this.#watchdog = setInterval(() => {
      if (this.#child !== undefined && this.#o.now() - this.#lastLine > this.#o.silenceTimeoutMs) {
        this.parser.counts.add('timeout');
        this.#child.kill('SIGKILL');
      }
    }, every);
    this.#watchdog.unref();
  }

  /**
   * Stops the tool and every timer. Resolves once the tool has exited and its output pipe closed
   * (SIGTERM, SIGKILL after 2 s; at most 3 s), so an agent's close() leaves no tool running.
   */
  stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#restart);
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined) return Promise.resolve();
    const gone = new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      const bound = setTimeout(done, 3000);
      function done() {
        clearTimeout(kill);
        clearTimeout(bound);
        resolve();
      }
      child.on('close', done);
      child.on('error', done);
    });
    child.kill('SIGTERM');
    return gone;
  }

  #launch(): void {
    this.#lastLine = this.#o.now();
    let child: ChildLike;
    try {
      child = this.#o.spawn(this.#o.command, this.args);
    } catch {
      this.parser.counts.add('fetch-failed');
      this.#scheduleRestart();
      return;
    }
    this.#child = child;
    const lines = new LineSplitter(
      MAX_LINE,
      (line) => {
        this.#lastLine = this.#o.now();
        if (this.#refused(line)) return;
        const s = this.parser.line(line, this.#lastLine);
        if (s !== undefined) {
          this.#delay = this.#o.restartDelayMs;
          this.#o.onSample(s);
        }
      },
      () => this.parser.counts.add('line-too-long'),
    );
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => lines.push(chunk));
    let ended = false;
    const ended1 = () => {
      if (ended) return;
      ended = true;
      if (this.#child === child) this.#child = undefined;
      if (!this.#stopped) this.#scheduleRestart();
    };
    child.on('exit', ended1);
    child.on('error', () => {
      this.parser.counts.add('fetch-failed');
      ended1();
    });
  }

  /** A refusal of one field: drop it from the query (the tool exits; the restart comes without it). */
  #refused(line: string): boolean {
    const m = UNSUPPORTED_FIELD.exec(line.trim());
    if (m === null) return false;
    const field = m[1]!;
    if (!this.#fields.includes(field) || REQUIRED_FIELDS.has(field)) return false;
    this.#fields = this.#fields.filter((f) => f !== field);
    this.parser.setFields(this.#fields);
    this.parser.counts.add('field-unsupported');
    this.#delay = this.#o.restartDelayMs;
    return true;
  }

  #scheduleRestart(): void {
    this.parser.counts.add('tool-restart');
    this.#restart = setTimeout(() => {
      if (!this.#stopped) this.#launch();
    }, this.#delay);
    this.#restart.unref();
    this.#delay = Math.min(30_000, this.#delay * 2);
  }
}
