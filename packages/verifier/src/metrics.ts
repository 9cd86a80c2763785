import type { Check } from '@tmb/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './log.ts';

/**
 * The verifier's Prometheus metrics (docs/api.md, "GET /metrics"), on a registry of
 * its own (several verifiers in one process, as in tests, never share counters). Label values
 * are bounded: routes are the service's fixed patterns, codes come from the code lists, agent
 * names from the configured tokens.
 */
export class VerifierMetrics {
  readonly registry = new Registry();
  readonly #http: Counter<'route' | 'method' | 'status'>;
  readonly #rateLimited: Counter;
  readonly #authFailures: Counter<'code'>;
  readonly #receipts: Counter<'outcome'>;
  readonly #appraisals: Counter<'result' | 'code'>;
  readonly #latency: Histogram;

  /**
   * `lastQuotes`: when each agent's latest quote was accepted (Unix ms, or null: none yet), read
   * at each scrape (from the store, so the gauge survives restarts). `now`: the clock, Unix ms.
   */
  constructor(lastQuotes: () => Promise<Map<string, number | null>>, now: () => number) {
    const registers = [this.registry];
    this.#http = new Counter({
      name: 'tmb_verifier_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'tmb_verifier_rate_limited_total',
      help: 'Requests refused with 429 RATE_LIMITED (public routes, per client address)',
      registers,
    });
    this.#authFailures = new Counter({
      name: 'tmb_verifier_auth_failures_total',
      help: 'Requests refused for their token (TOKEN_INVALID, TOKEN_AGENT_MISMATCH)',
      labelNames: ['code'],
      registers,
    });
    this.#receipts = new Counter({
      name: 'tmb_verifier_receipts_ingested_total',
      help: 'Pushed receipts, by outcome: accepted (stored), duplicate, rejected',
      labelNames: ['outcome'],
      registers,
    });
    this.#appraisals = new Counter({
      name: 'tmb_verifier_evidence_appraisals_total',
      help: 'Evidence posts appraised, by result (accepted, refused) and the refusal code',
      labelNames: ['result', 'code'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'tmb_verifier_evidence_appraisal_seconds',
      help: 'Time to appraise one evidence post, after its body was read (lock wait included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    new Gauge({
      name: 'tmb_verifier_agent_last_quote_age_seconds',
      help: "Seconds since each agent's latest accepted quote (agents with no accepted quote are absent)",
      labelNames: ['agent'],
      registers,
      async collect() {
        this.reset();
        const t = now();
        for (const [agent, at] of await lastQuotes())
          if (at !== null) this.set({ agent }, Math.max(0, (t - at) / 1000));
      },
    });
  }

  /** One answered HTTP request. */
  http(route: string, method: string, status: number): void {
    this.#http.inc({ route, method, status: String(status) });
  }

  rateLimited(): void {
    this.#rateLimited.inc();
  }

  authFailure(code: string): void {
    this.#authFailures.inc({ code });
  }

  /** One receipt push's outcome counts. */
  receipts(accepted: number, duplicate: number, rejected: number): void {
    if (accepted > 0) this.#receipts.inc({ outcome: 'accepted' }, accepted);
    if (duplicate > 0) this.#receipts.inc({ outcome: 'duplicate' }, duplicate);
    if (rejected > 0) this.#receipts.inc({ outcome: 'rejected' }, rejected);
  }

  /** One evidence appraisal: refused with `code`, or accepted (code null). */
  appraisal(code: string | null, seconds: number): void {
    this.#appraisals.inc({ result: code === null ? 'accepted' : 'refused', code: code ?? '' });
    this.#latency.observe(seconds);
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async scrape(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/**
 * Records an evidence post's outcome in the metrics and the log: accepted (a check that failed
 * without refusing it, such as host.boot, stays in its verdicts, not here), refused by a failed
 * check (its code and name), or refused by a thrown error (its code). Never the nonce or quote.
 */
export function observeEvidence(
  o: { metrics: VerifierMetrics; log: Logger },
  agent: string,
  outcome: { accepted: boolean; checks: readonly Check[] } | { error: unknown },
  seconds: number,
): void {
  let code: string | null;
  let check: string | undefined;
  if ('checks' in outcome) {
    const failed = outcome.accepted ? undefined : outcome.checks.find((c) => c.status === 'fail');
    code = outcome.accepted ? null : (failed?.code ?? 'UNKNOWN');
    check = failed?.name;
  } else {
    const c = (outcome.error as { code?: unknown } | null)?.code;
    code = typeof c === 'string' ? c : 'INTERNAL';
  }
  o.metrics.appraisal(code, seconds);
  if (code === null) o.log.info('evidence_accepted', { agent, ms: Math.round(seconds * 1000) });
  else o.log.warn('evidence_refused', { agent, code, check, ms: Math.round(seconds * 1000) });
}
