import { AgentError } from '../errors.ts';
import { DcgmCollector } from './collect/dcgm.ts';
import { NvSmiCollector } from './collect/nvsmi.ts';
import { ProcSampler } from './collect/proc.ts';
import type { SpawnFn } from './collect/spawn.ts';
import type { GpuSample, ProcSample } from './sample.ts';
import { resolveExecutable } from './tool.ts';

/** Where GPU samples come from: nvidia-smi run by the agent, a dcgm-exporter scrape, or no GPU. */
export type GpuSource = 'nvidia-smi' | 'dcgm' | 'none';

/** Which collectors run, and how (the collector part of TelemetryStreamOptions). */
export interface SourceOptions {
  /**
   * The GPU collector. Default 'nvidia-smi': the agent runs `nvidiaSmi` itself, so the kernel
   * measures the tool and the evidence names it (`telemetryTool`, the `telemetry.tool` check
   * that L2 needs). 'dcgm' scrapes dcgm-exporter at `dcgmUrl`: a process the agent does not
   * run, so the evidence names no tool and its requests stay below L2 (telemetry.tool skipped)
   * while telemetry.consistent is still scored. 'none': no GPU (an engine on the CPU; `pids`).
   */
  gpu?: GpuSource;
  /** The nvidia-smi program to run. Default `nvidia-smi` from PATH (the demo passes its simulated one). */
  nvidiaSmi?: string;
  /**
   * dcgm-exporter's metrics URL. Default http://127.0.0.1:9400/metrics (its default listen
   * address). Run the exporter with `-c 100` (collect every 100 ms): at its default 30 s every
   * scrape repeats one reading and a request's window holds no energy change.
   */
  dcgmUrl?: string;
  /**
   * Processes whose CPU time and resident memory are sampled from /proc every `intervalMs`
   * (the model server's; docs/telemetry.md). Default none. A pid that is gone or reused is
   * counted (fetch-failed, counter-reset) and sampling goes on.
   */
  pids?: readonly number[];
  /** Root of procfs. Default /proc (tests point it at a folder of their own). */
  procRoot?: string;
  /** Sampling period, ms: nvidia-smi's `-lms`, the time between DCGM scrapes and /proc reads. Default 100. */
  intervalMs?: number;
  /** Starts the tool (tests hand in a fake). Default node:child_process.spawn. */
  spawn?: SpawnFn;
  /** Default globalThis.fetch (dcgm-exporter scrapes). */
  fetch?: typeof fetch;
}

const GPU_SOURCES: readonly GpuSource[] = ['nvidia-smi', 'dcgm', 'none'];

const isHttpUrl = (s: string): boolean =>
  URL.canParse(s) && ['http:', 'https:'].includes(new URL(s).protocol);

/**
 * Checks the collector options before anything starts: a known GPU source, an http(s)
 * dcgmUrl, pids that are positive integers, and something to collect.
 * @throws AgentError AGENT_CONFIG_INVALID naming the option
 */
export function checkSourceOptions(o: SourceOptions): void {
  const bad = (message: string) => new AgentError('AGENT_CONFIG_INVALID', `telemetry.${message}`);
  const gpu = o.gpu ?? 'nvidia-smi';
  if (!GPU_SOURCES.includes(gpu))
    throw bad(`gpu must be one of ${GPU_SOURCES.join(', ')}, found ${String(gpu)}`);
  if (o.dcgmUrl !== undefined && !isHttpUrl(o.dcgmUrl))
    throw bad(`dcgmUrl must be an http or https URL, found ${JSON.stringify(o.dcgmUrl)}`);
  for (const pid of o.pids ?? [])
    if (!Number.isSafeInteger(pid) || pid <= 0) throw bad(`pids must be positive integers, found ${pid}`);
  if (gpu === 'none' && (o.pids ?? []).length === 0)
    throw bad('gpu is none and no pids are given: nothing to collect');
}

/** What the collectors hand on, stamped on the clock `now` gives. */
export interface SourceSinks {
  now: () => number;
  onGpu: (s: GpuSample) => void;
  onProc: (s: ProcSample) => void;
}

/**
 * The collectors one telemetry stream runs: at most one GPU collector (nvidia-smi or
 * dcgm-exporter) and one /proc sampler per pid, started and stopped together.
 */
export class TelemetrySources {
  /** The nvidia-smi collector, when gpu is 'nvidia-smi'. */
  readonly nvsmi: NvSmiCollector | undefined;
  /** The dcgm-exporter collector, when gpu is 'dcgm'. */
  readonly dcgm: DcgmCollector | undefined;
  /** One sampler per pid. */
  readonly proc: readonly ProcSampler[];
  readonly #o: SourceOptions;
  readonly #sinks: SourceSinks;
  readonly #intervalMs: number;
  #procTimer: ReturnType<typeof setInterval> | undefined;
  #procReads: Promise<void> | undefined;

  constructor(o: SourceOptions, sinks: SourceSinks) {
    this.#o = o;
    this.#sinks = sinks;
    this.#intervalMs = o.intervalMs ?? 100;
    const gpu = o.gpu ?? 'nvidia-smi';
    this.nvsmi =
      gpu === 'nvidia-smi'
        ? new NvSmiCollector({
            command: o.nvidiaSmi ?? 'nvidia-smi',
            intervalMs: this.#intervalMs,
            now: sinks.now,
            ...(o.spawn ? { spawn: o.spawn } : {}),
            onSample: sinks.onGpu,
          })
        : undefined;
    this.dcgm =
      gpu === 'dcgm'
        ? new DcgmCollector({
            url: o.dcgmUrl ?? 'http://127.0.0.1:9400/metrics',
            intervalMs: this.#intervalMs,
            now: sinks.now,
            ...(o.fetch ? { fetch: o.fetch } : {}),
            onSample: sinks.onGpu,
          })
        : undefined;
    this.proc = (o.pids ?? []).map(
      (pid) => new ProcSampler({ pid, now: sinks.now, ...(o.procRoot ? { procRoot: o.procRoot } : {}) }),
    );
  }

  /**
   * The absolute path of the tool the agent runs for telemetry, for the evidence's
   * `telemetryTool`: nvidia-smi resolved as the kernel will log it; null for dcgm-exporter
   * (not run by the agent) and /proc (read by the agent itself, measured as the agent).
   */
  tool(): string | null {
    return this.nvsmi === undefined ? null : resolveExecutable(this.#o.nvidiaSmi ?? 'nvidia-smi');
  }

  /** Starts every collector. */
  start(): void {
    this.nvsmi?.start();
    this.dcgm?.start();
    if (this.proc.length > 0 && this.#procTimer === undefined) {
      this.#procTimer = setInterval(() => this.#readProc(), this.#intervalMs);
      this.#procTimer.unref();
    }
  }

  /** Stops every collector; resolves once the tool has exited and reads in flight have ended. */
  async stop(): Promise<void> {
    clearInterval(this.#procTimer);
    this.#procTimer = undefined;
    await Promise.all([this.nvsmi?.stop(), this.dcgm?.stop(), this.#procReads]);
  }

  /** One read of every pid; skipped while the previous one is still reading. */
  #readProc(): void {
    if (this.#procReads !== undefined) return;
    this.#procReads = Promise.all(this.proc.map((p) => p.sample())).then(
      (samples) => {
        this.#procReads = undefined;
        if (this.#procTimer === undefined) return;
        for (const s of samples) if (s !== undefined) this.#sinks.onProc(s);
      },
      () => {
        this.#procReads = undefined;
      },
    );
  }
}
