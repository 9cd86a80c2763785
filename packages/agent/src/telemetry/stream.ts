import { readBoundedText, toBase64Url } from '@tmb/core';
import { formatTelemetryLine } from '@tmb/core/telemetry';
import { AgentError } from '../errors.ts';
import { nowUs } from '../proxy/clock.ts';
import { BatchChain, GENESIS_HEAD, type SampleBatch } from './chain.ts';
import type { NvSmiCollector } from './collect/nvsmi.ts';
import { type SourceOptions, TelemetrySources } from './sources.ts';

/**
 * Options of the agent's telemetry stream (docs/telemetry.md). All have defaults: left out,
 * nvidia-smi from PATH is sampled every 100 ms and no process is read from /proc.
 */
export interface TelemetryStreamOptions extends SourceOptions {
  /** How often a batch is cut and pushed, ms. Default 1000. */
  pushIntervalMs?: number;
  /** Batches held while the verifier is unreachable; past it the oldest are dropped and the chain restarts. Default 600. */
  maxPendingBatches?: number;
  /** Batches per push. Default 50. */
  pushBatches?: number;
  /** Timeout of each push, ms. Default 10 s. */
  timeoutMs?: number;
}

/** A batch waiting to be pushed, with its place in the chain. */
interface Pending {
  prevHead: Uint8Array;
  head: Uint8Array;
  batch: SampleBatch;
}

/** What the stream did so far (logged, and shown by tests). */
export interface StreamCounts {
  /** GPU samples read (the agent's tmb_agent_telemetry_samples_total). */
  samples: number;
  /** Process samples read from /proc (TelemetryStreamOptions.pids). */
  procSamples: number;
  batchesPushed: number;
  /** Batches dropped because the verifier was unreachable past maxPendingBatches. */
  batchesDropped: number;
  /** Times the chain restarted from the genesis head (overflow, or the verifier refused the chain). */
  chainRestarts: number;
  pushFailures: number;
}

type Log = (event: string, detail: Record<string, unknown>) => void;

/**
 * The agent's telemetry pipeline: runs its collectors (TelemetrySources: nvidia-smi or
 * dcgm-exporter for the GPU, /proc for the model server's process), stamps each sample with
 * the receipts' clock (Unix time from the monotonic clock, `nowUs() / 1000` ms, so receipt
 * times and sample times line up), digest-chains the samples into batches (BatchChain) and
 * pushes them to the verifier's POST /v1/telemetry with a timeout, retry and a bounded queue.
 * `head()` is what the receipt log's checkpoints commit to.
 */
export class TelemetryStream {
  /** The collectors this stream runs. */
  readonly sources: TelemetrySources;
  /** The nvidia-smi collector (sources.nvsmi), when the GPU is read with nvidia-smi. */
  readonly collector: NvSmiCollector | undefined;
  readonly counts: StreamCounts = {
    samples: 0,
    procSamples: 0,
    batchesPushed: 0,
    batchesDropped: 0,
    chainRestarts: 0,
    pushFailures: 0,
  };
  readonly #o: Required<Omit<TelemetryStreamOptions, keyof SourceOptions>> & { fetch: typeof fetch };
  readonly #target: { url: string; token: string; name: string } | undefined;
  readonly #log: Log;
  #chain = new BatchChain();
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #pushing: Promise<void> | undefined;
  /** Head of the last batch the verifier took (the prevHead of the next queued one). */
  #lastPushedHead: Uint8Array = GENESIS_HEAD;

  constructor(
    target: { url: string; token: string; name: string } | undefined,
    options: TelemetryStreamOptions = {},
    log: Log = () => {},
  ) {
    this.#target = target;
    this.#log = log;
    this.#o = {
      pushIntervalMs: options.pushIntervalMs ?? 1000,
      maxPendingBatches: options.maxPendingBatches ?? 600,
      pushBatches: options.pushBatches ?? 50,
      timeoutMs: options.timeoutMs ?? 10_000,
      fetch: options.fetch ?? globalThis.fetch,
    };
    this.sources = new TelemetrySources(options, {
      now: () => nowUs() / 1000,
      onGpu: (s) => {
        this.counts.samples++;
        this.#chain.addGpu(s);
      },
      onProc: (s) => {
        this.counts.procSamples++;
        this.#chain.addProc(s);
      },
    });
    this.collector = this.sources.nvsmi;
  }

  /** The evidence's `telemetryTool`: the resolved nvidia-smi the agent runs, or null (TelemetrySources.tool). */
  tool(): string | null {
    return this.sources.tool();
  }

  /** Starts sampling and the push loop. */
  start(): void {
    this.sources.start();
    this.#timer ??= setInterval(() => {
      this.#cut();
      if (this.#target !== undefined) this.push().catch(() => {});
    }, this.#o.pushIntervalMs);
    this.#timer.unref();
  }

  /**
   * The chain head after the last batch cut and how many batches it covers (0 and 32 zero
   * bytes before the first): enter it in the receipt log's checkpoint, so a TPM quote over the
   * checkpoint commits to every sample batched before it.
   */
  head(): { head: Uint8Array; count: number } {
    return { head: this.#chain.head, count: this.#chain.seq };
  }

  /** Cuts what is pending and pushes every queued batch now. @throws AgentError AGENT_PUSH_FAILED */
  async flush(): Promise<void> {
    this.#cut();
    while (this.#queue.length > 0 && this.#target !== undefined) {
      const before = this.#queue.length;
      await this.push();
      if (this.#queue.length >= before) break;
    }
  }

  /** Stops sampling, pushes what it can, stops the loop. */
  async close(): Promise<void> {
    const stopped = this.sources.stop();
    clearInterval(this.#timer);
    await this.flush().catch(() => {});
    await stopped;
  }

  /** One push of up to `pushBatches` queued batches. @throws AgentError AGENT_PUSH_FAILED */
  push(): Promise<void> {
    this.#pushing ??= this.#pushOnce().finally(() => {
      this.#pushing = undefined;
    });
    return this.#pushing;
  }

  #cut(): void {
    const c = this.#chain.cut();
    if (c === undefined || this.#target === undefined) return;
    const prevHead = this.#queue.at(-1)?.head ?? this.#lastPushedHead;
    this.#queue.push({ prevHead, head: c.head, batch: c.batch });
    if (this.#queue.length > this.#o.maxPendingBatches) {
      this.counts.batchesDropped += this.#queue.length;
      this.#log('telemetry_dropped', { batches: this.#queue.length });
      this.#queue = [];
      this.#restart();
    }
  }

  /** Starts a new chain from the genesis head; the verifier accepts seq 0 as a new chain. */
  #restart(queued: readonly SampleBatch[] = []): void {
    this.counts.chainRestarts++;
    const rest = this.#chain.cut()?.batch;
    this.#chain = new BatchChain();
    this.#lastPushedHead = GENESIS_HEAD;
    for (const b of rest === undefined ? queued : [...queued, rest]) {
      for (const s of b.gpu) this.#chain.addGpu(s);
      for (const s of b.proc) this.#chain.addProc(s);
    }
    this.#cut();
  }

  async #pushOnce(): Promise<void> {
    const t = this.#target;
    if (t === undefined || this.#queue.length === 0) return;
    const sent = this.#queue.slice(0, this.#o.pushBatches);
    const body = JSON.stringify({
      agent: t.name,
      batches: sent.map((p) => ({
        seq: p.batch.seq,
        prevHead: toBase64Url(p.prevHead),
        head: toBase64Url(p.head),
        gpu: p.batch.gpu,
        proc: p.batch.proc,
      })),
    });
    let status: number;
    let code: string | undefined;
    try {
      const r = await this.#o.fetch(`${t.url.replace(/\/$/, '')}/v1/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      status = r.status;
      const text = await readBoundedText(r, 64 * 1024);
      if (status !== 200) code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch (cause) {
      this.counts.pushFailures++;
      throw new AgentError('AGENT_PUSH_FAILED', `telemetry push failed: ${String(cause)}`, { cause });
    }
    if (status === 200) {
      this.#queue.splice(0, sent.length);
      this.#lastPushedHead = sent.at(-1)!.head;
      this.counts.batchesPushed += sent.length;
      return;
    }
    this.counts.pushFailures++;
    if (code === 'TELEMETRY_CHAIN_BROKEN' || code === 'TELEMETRY_BATCH_TAMPERED') {
      // The verifier cannot continue this chain (it lost or never got a batch): re-chain every
      // queued sample from the genesis head, so nothing queued is lost.
      const batches = this.#queue.map((p) => p.batch);
      this.#queue = [];
      const samples = batches.reduce((n, b) => n + b.gpu.length + b.proc.length, 0);
      this.#log('telemetry_chain_restart', { code, samples });
      this.#restart(batches);
    }
    throw new AgentError('AGENT_PUSH_FAILED', `telemetry push answered ${status} ${code ?? ''}`.trim());
  }
}

/** The head a checkpoint should carry for `stream` (helper for the receipt log). */
export function telemetryHead(stream: TelemetryStream): { head: Uint8Array; count: number } {
  return stream.head();
}

/**
 * The checkpoint extension line that commits a signed (and TPM-quoted) checkpoint to the
 * telemetry chain: `tmb-telemetry <count> <base64 head>` (count = batches covered, head after
 * the last of them; docs/telemetry.md). Undefined before the first batch.
 */
export function telemetryExtension(stream: TelemetryStream): string | undefined {
  const { head, count } = stream.head();
  return count === 0 ? undefined : formatTelemetryLine(count, head);
}
