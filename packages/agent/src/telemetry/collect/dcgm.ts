import { TelemetryCounts, type TelemetryReason } from '../counts.ts';
import type { GpuSample } from '../sample.ts';
import { parseDcgm } from './dcgm-parse.ts';

/** Options of scrapeDcgm. */
export interface DcgmScrapeOptions {
  /** The exporter's metrics URL, e.g. http://127.0.0.1:9400/metrics. */
  url: string;
  /** Default globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
  /** Whole-scrape timeout. Default 2 s. */
  timeoutMs?: number;
  /** Largest body read. Default 4 MiB (a 8-GPU exporter with profiling fields prints about 200 KiB). */
  maxBytes?: number;
  /** Monotonic clock for the samples' `t`. Default performance.now. */
  now?: () => number;
}

/**
 * Scrapes dcgm-exporter once. Never rejects: network errors, non-200 answers, timeouts and
 * oversized bodies give no samples and a counted reason. Note dcgm-exporter refreshes its
 * values every 30 s by default (its -c flag), so scraping faster repeats readings.
 */
export async function scrapeDcgm(
  o: DcgmScrapeOptions,
): Promise<{ samples: GpuSample[]; counts: TelemetryCounts }> {
  const fail = (reason: 'fetch-failed' | 'timeout' | 'too-large') => {
    const counts = new TelemetryCounts();
    counts.add(reason);
    return { samples: [], counts };
  };
  const maxBytes = o.maxBytes ?? 4 << 20;
  const signal = AbortSignal.timeout(o.timeoutMs ?? 2000);
  try {
    const res = await (o.fetch ?? globalThis.fetch)(o.url, { signal, headers: { accept: 'text/plain' } });
    if (res.status !== 200 || res.body === null) {
      await res.body?.cancel();
      return fail('fetch-failed');
    }
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        return fail('too-large');
      }
      chunks.push(value);
    }
    const text = new TextDecoder().decode(Buffer.concat(chunks));
    return parseDcgm(text, (o.now ?? (() => performance.now()))());
  } catch (err) {
    return fail(signal.aborted || (err as Error).name === 'TimeoutError' ? 'timeout' : 'fetch-failed');
  }
}

/** Options of DcgmCollector: a scrape's, plus its period and where samples go. */
export interface DcgmCollectorOptions extends DcgmScrapeOptions {
  /** Called for every sample of every scrape. */
  onSample: (s: GpuSample) => void;
  /** Time between the end of one scrape and the start of the next, ms. Default 1 s. */
  intervalMs?: number;
}

/**
 * Scrapes dcgm-exporter every `intervalMs` and hands each sample to onSample; what a scrape
 * dropped, and failed scrapes, are added to `counts`. A failed scrape never stops the loop.
 */
export class DcgmCollector {
  readonly counts = new TelemetryCounts();
  readonly #o: DcgmCollectorOptions & { intervalMs: number };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  #inflight: Promise<void> | undefined;

  constructor(o: DcgmCollectorOptions) {
    this.#o = { ...o, intervalMs: o.intervalMs ?? 1000 };
  }

  /** Scrapes once now and then every interval. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops the loop; resolves once a scrape in flight has ended (at most its timeout). */
  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    return this.#inflight ?? Promise.resolve();
  }

  #tick(): void {
    this.#inflight = this.#scrape().finally(() => {
      this.#inflight = undefined;
    });
  }

  async #scrape(): Promise<void> {
    const r = await scrapeDcgm(this.#o);
    for (const [k, v] of Object.entries(r.counts.nonZero())) this.counts.add(k as TelemetryReason, v);
    if (this.#stopped) return;
    for (const s of r.samples) this.#o.onSample(s);
    this.#timer = setTimeout(() => this.#tick(), this.#o.intervalMs);
    this.#timer.unref();
  }
}
