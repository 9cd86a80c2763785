import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the agent reads when it is scraped (cheap reads of state it keeps anyway). */
export interface MetricSources {
  /** Receipts committed and not yet answered for by the verifier. */
  pending(): number;
  /** Commit time (Unix µs, the receipts' clock) of the oldest receipt not yet pushed, or null. */
  oldestPendingUs(): number | null;
  /** Reads the store once; throws when it cannot be read. Returns true. */
  probeStore(): true;
  /** Checkpoints signed so far in this data dir. */
  checkpoints(): number;
  /** The telemetry stream's counts, when telemetry runs. */
  telemetry?: () => { samples: number; batchesDropped: number; pushFailures: number };
  /** Unix µs now, on the receipts' clock (proxy/clock.ts). */
  nowUs(): number;
}

/** A read at scrape time; undefined when it throws (a closed or failing store must not fail the scrape). */
function read<T>(f: (() => T) | undefined): T | undefined {
  try {
    return f?.();
  } catch {
    return undefined;
  }
}

/** Quote-cycle durations, seconds: swtpm quotes take ~20-80 ms, a hardware TPM 100-500 ms. */
const QUOTE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Exchange durations, seconds: from a cached answer to a long generation. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** A counter whose value is read from elsewhere at scrape time. */
function readCounter(registry: Registry, name: string, help: string, value: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read(value);
      if (v === undefined) return; // kept as it was: a counter never goes down
      this.reset();
      if (v > 0) this.inc(v);
    },
  });
}

/**
 * The agent's Prometheus metrics (prom-client), one registry per agent (several agents may run
 * in one process, as in tests). The agent calls the event methods where things happen; the
 * gauges that mirror state (pending receipts, push lag, checkpoints, telemetry counts) are read
 * from `MetricSources` at scrape time. Nothing here holds a timer, so nothing needs closing.
 * Labels take values from fixed sets (receipt outcomes, error codes): never request data.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  /** Date.now() of the last batch the verifier answered for, or null before the first. */
  lastPushAt: number | null = null;
  /** Date.now() of the last committed receipt, or null. */
  lastReceiptAt: number | null = null;
  /** The last receipt that could not be committed: when and its code. */
  lastReceiptFailure: { at: number; code: string } | null = null;
  readonly #issued: Counter<'outcome'>;
  readonly #failed: Counter<'code'>;
  readonly #pushFailures: Counter<'code'>;
  readonly #pushed: Counter;
  readonly #upstreamErrors: Counter<'outcome'>;
  readonly #quote: Histogram;
  readonly #requests: Histogram<'status'>;
  #sources: MetricSources | undefined;
  // The labelled series the per-exchange calls touch, looked up once per label value (prom-client
  // hashes the label object on every call otherwise); both label sets are small and fixed.
  readonly #issuedBy = new Map<string, { inc(): void }>();
  readonly #requestsBy = new Map<string, { observe(v: number): void }>();

  constructor() {
    const registers = [this.registry];
    this.#issued = new Counter({
      name: 'tmb_agent_receipts_issued_total',
      help: 'Receipts signed and committed, by outcome (complete, upstream_error, client_aborted, ...)',
      labelNames: ['outcome'],
      registers,
    });
    this.#failed = new Counter({
      name: 'tmb_agent_receipts_failed_total',
      help: 'Exchanges cut because their receipt could not be signed or committed, by error code',
      labelNames: ['code'],
      registers,
    });
    this.#pushed = new Counter({
      name: 'tmb_agent_receipts_pushed_total',
      help: 'Receipts the verifier answered for',
      registers,
    });
    this.#pushFailures = new Counter({
      name: 'tmb_agent_push_failures_total',
      help: 'Failed pushes of receipts to the verifier, by error code',
      labelNames: ['code'],
      registers,
    });
    this.#upstreamErrors = new Counter({
      name: 'tmb_agent_upstream_errors_total',
      help: 'Exchanges the model server failed (unreachable, cut, or past the timeout), by receipt outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.#quote = new Histogram({
      name: 'tmb_agent_quote_duration_seconds',
      help: 'Time of the TPM quote of an accepted checkpoint',
      buckets: QUOTE_BUCKETS,
      registers,
    });
    this.#requests = new Histogram({
      name: 'tmb_agent_request_duration_seconds',
      help: 'Proxied exchanges, from the request to the last byte, by HTTP status class (cut: destroyed)',
      labelNames: ['status'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    const src = () => this.#sources;
    new Gauge({
      name: 'tmb_agent_receipts_pending_push',
      help: 'Receipts committed and not yet answered for by the verifier',
      registers,
      collect() {
        const s = src();
        const n = s === undefined ? 0 : read(() => s.pending());
        if (n !== undefined) this.set(n);
      },
    });
    new Gauge({
      name: 'tmb_agent_push_lag_seconds',
      help: 'Age of the oldest receipt not yet pushed to the verifier (0 when none waits)',
      registers,
      collect() {
        const s = src();
        const oldest = s === undefined ? null : read(() => s.oldestPendingUs());
        if (oldest === undefined) return;
        this.set(s === undefined || oldest === null ? 0 : Math.max(0, (s.nowUs() - oldest) / 1e6));
      },
    });
    new Gauge({
      name: 'tmb_agent_store_readable',
      help: 'Whether the receipt store answered a read at scrape time (1) or failed (0: no receipt can be issued)',
      registers,
      collect() {
        const s = src();
        this.set(s === undefined || read(() => s.probeStore()) === true ? 1 : 0);
      },
    });
    readCounter(this.registry, 'tmb_agent_checkpoints_total', 'Checkpoints of the receipt log signed', () =>
      src()?.checkpoints(),
    );
    readCounter(
      this.registry,
      'tmb_agent_telemetry_samples_total',
      'GPU telemetry samples read',
      () => src()?.telemetry?.().samples,
    );
    readCounter(
      this.registry,
      'tmb_agent_telemetry_batches_dropped_total',
      'Telemetry batches dropped while the verifier was unreachable (the chain restarts)',
      () => src()?.telemetry?.().batchesDropped,
    );
    readCounter(
      this.registry,
      'tmb_agent_telemetry_push_failures_total',
      'Failed pushes of telemetry batches',
      () => src()?.telemetry?.().pushFailures,
    );
    new Gauge({
      name: 'tmb_agent_resident_memory_bytes',
      help: 'Resident set size of the agent process',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  /** Where scrape-time values come from (set once the agent's store and log are open). */
  attach(sources: MetricSources): void {
    this.#sources = sources;
  }

  /** A receipt was committed with this outcome. */
  receipt(outcome: string): void {
    let issued = this.#issuedBy.get(outcome);
    if (issued === undefined) {
      issued = this.#issued.labels({ outcome });
      this.#issuedBy.set(outcome, issued);
    }
    issued.inc();
    this.lastReceiptAt = Date.now();
    if (outcome === 'upstream_error' || outcome === 'upstream_timeout') this.#upstreamErrors.inc({ outcome });
  }

  /** An exchange was cut because its receipt failed (`code`: AgentError or CoreError code). */
  receiptFailed(code: string): void {
    this.#failed.inc({ code });
    this.lastReceiptFailure = { at: Date.now(), code };
  }

  /** The verifier answered for `count` receipts. */
  pushed(count: number): void {
    this.#pushed.inc(count);
    this.lastPushAt = Date.now();
  }

  /** A push to the verifier failed with `code` (AGENT_PUSH_FAILED, AGENT_ENROL_REJECTED). */
  pushFailed(code: string): void {
    this.#pushFailures.inc({ code });
  }

  /** A checkpoint was quoted and accepted; `quoteMs` is the TPM quote's time. */
  quoted(quoteMs: number): void {
    this.#quote.observe(quoteMs / 1000);
  }

  /** A proxied exchange ended after `seconds`; `status` null when it was cut. */
  request(seconds: number, status: number | null): void {
    const label = status === null ? 'cut' : `${Math.floor(status / 100)}xx`;
    let series = this.#requestsBy.get(label);
    if (series === undefined) {
      series = this.#requests.labels({ status: label });
      this.#requestsBy.set(label, series);
    }
    series.observe(seconds);
  }

  /** The Prometheus text exposition and its content type. */
  async exposition(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
