import { lookupsOf } from './attest/kernel.ts';
import { createAttestService } from './attest/service.ts';
import { loadAttest } from './attest/state.ts';
import { TokenAuth } from './auth.ts';
import { createResultSigner } from './ear.ts';
import { HostAppraiser, loadReferences } from './host/index.ts';
import { dispatcher, type Route } from './http/dispatch.ts';
import { listen } from './http/listen.ts';
import { VerifierMetrics } from './metrics.ts';
import { resolveOptions, type VerifierOptions } from './options.ts';
import { RateLimiter } from './ratelimit.ts';
import { getConsistency, getQuotedCheckpoint, postAgentKey } from './routes/agents.ts';
import { postAkActivate, postAkEnrol, postCheckpointKey, postEvidence, postNonce } from './routes/attest.ts';
import type { VerifierParts } from './routes/context.ts';
import { dashboardRoutes, openDashboard } from './routes/dashboard.ts';
import { postHostLog } from './routes/host.ts';
import { getHealth, getMetrics } from './routes/metrics.ts';
import { getAgents, getByRequest, getReceipt, getVerifierKey } from './routes/read.ts';
import { getBundle, postReceipts } from './routes/receipts.ts';
import { getTelemetryFinding, postTelemetry } from './routes/telemetry.ts';
import { BoundedMap } from './store/bounded.ts';
import { openStore } from './store/open.ts';
import type { KeyRecord, Store } from './store/types.ts';
import { TelemetryService } from './telemetry/service.ts';
import { Waiters } from './waiters.ts';

/** A started verifier. */
export interface RunningVerifier {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops accepting, ends pending long-polls, closes connections and the store. */
  close(): Promise<void>;
}

const ID = '([^/]+)';
/** `^/v1/…$` with each `:id` a path segment (captured in order). */
const path = (p: string) => new RegExp(`^${p.replaceAll('/', '\\/').replaceAll(':id', ID)}$`);

/** The service's endpoints (docs/api.md): URL and method -> who may call -> which handler. */
const ROUTES: Route[] = [
  { method: 'POST', pattern: path('/v1/agents/enroll'), access: 'token', handle: (c) => postAgentKey(c) },
  { method: 'POST', pattern: path('/v1/receipts'), access: 'token', handle: (c) => postReceipts(c) },
  {
    method: 'GET',
    pattern: path('/v1/receipts/:id'),
    access: 'public',
    handle: (c, m) => getReceipt(c, m[1]!),
  },
  {
    method: 'GET',
    pattern: path('/v1/receipts/:id/bundle'),
    access: 'public',
    handle: (c, m) => getBundle(c, m[1]!),
  },
  {
    method: 'GET',
    pattern: path('/v1/requests/:id'),
    access: 'token',
    handle: (c, m) => getByRequest(c, decodeURIComponent(m[1]!)),
  },
  { method: 'GET', pattern: path('/v1/agents'), access: 'token', handle: (c) => getAgents(c) },
  { method: 'POST', pattern: path('/v1/attest/enroll'), access: 'token', handle: (c) => postAkEnrol(c) },
  { method: 'POST', pattern: path('/v1/attest/activate'), access: 'token', handle: (c) => postAkActivate(c) },
  { method: 'POST', pattern: path('/v1/attest/nonce'), access: 'token', handle: (c) => postNonce(c) },
  {
    method: 'POST',
    pattern: path('/v1/attest/checkpoint-key'),
    access: 'token',
    handle: (c) => postCheckpointKey(c),
  },
  { method: 'POST', pattern: path('/v1/attest/evidence'), access: 'token', handle: (c) => postEvidence(c) },
  {
    method: 'GET',
    pattern: path('/v1/agents/:id/checkpoint'),
    access: 'public',
    handle: (c, m) => getQuotedCheckpoint(c, m[1]!),
  },
  {
    method: 'GET',
    pattern: path('/v1/agents/:id/proof/consistency'),
    access: 'public',
    handle: (c, m) => getConsistency(c, m[1]!),
  },
  { method: 'POST', pattern: path('/v1/telemetry'), access: 'token', handle: (c) => postTelemetry(c) },
  { method: 'POST', pattern: path('/v1/host/log'), access: 'token', handle: (c) => postHostLog(c) },
  {
    method: 'GET',
    pattern: path('/v1/telemetry/receipts/:id'),
    access: 'public',
    handle: (c, m) => getTelemetryFinding(c, m[1]!),
  },
  { method: 'GET', pattern: path('/v1/verifier-key'), access: 'public', handle: (c) => getVerifierKey(c) },
  { method: 'GET', pattern: path('/metrics'), access: 'metrics', handle: (c) => getMetrics(c) },
  { method: 'GET', pattern: path('/healthz'), access: 'public', handle: (c) => getHealth(c) },
];

/**
 * Starts the verifier service (docs/api.md): enrols agent keys, accepts receipt batches and
 * serves receipts with verdicts recomputed from the stored bytes.
 * @throws VerifierError VERIFIER_CONFIG_INVALID | STORE_FAILED
 * @example
 *   const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: secret, agent: 'gpu-1' }] });
 */
export async function startVerifier(options: VerifierOptions): Promise<RunningVerifier> {
  const opts = resolveOptions(options);
  const hostRefs = loadReferences(opts); // before the store opens: a bad registry leaks nothing
  lookupsOf({ policy: hostRefs.policy, registry: hostRefs.registry }); // compiled now, not on the first quote
  const log = opts.logger;
  const signer = createResultSigner(opts.resultKeyPem);
  const opened =
    opts.store === undefined // store/open.ts: SQLite at dbPath, or PostgreSQL at databaseUrl
      ? await openStore({
          ...opts,
          retainSamples: opts.telemetry?.retainSamples,
          onMigrated: (m) => log.info('store_migrated', m),
        })
      : null;
  const store: Store = opts.store ?? opened!.store;
  const telemetry = new TelemetryService(opts.dbPath, opts.telemetry, hostRefs.registry, opened?.telemetry);
  const agents = [...new Set(opts.tokens.map((t) => t.agent))];
  const parts: VerifierParts = {
    store,
    // Enrolled keys never change: a miss reads the store, so a key enrolled at another process
    // is found; bounded, so many agents' restarts cannot grow it (docs/deploy.md).
    keys: new BoundedMap<string, KeyRecord>(65_536),
    auth: new TokenAuth(opts.tokens, opts.readerTokens),
    // Local pushes wake long-polls at once; pushes to another process are found by polling.
    waiters: new Waiters({ poll: (ids) => store.storedReceipts(ids) }),
    options: opts,
    signer,
    attest: createAttestService(store, {
      roots: opts.tpmRoots,
      nonceTtlMs: opts.nonceTtlMs,
      now: opts.now,
      inclusionDeadlineMs: opts.inclusionDeadlineMs,
      lock: opened?.lock,
    }),
    telemetry,
    host: new HostAppraiser(store, hostRefs),
    log,
    metrics: new VerifierMetrics(async () => {
      const last = new Map<string, number | null>();
      for (const a of agents) last.set(a, (await loadAttest(store, a))?.acceptedAt ?? null);
      return last;
    }, opts.now),
  };
  const shutdown = new AbortController();
  const limiter = opts.rateLimit === false ? null : new RateLimiter(opts.rateLimit, opts.now);
  const dashboard = await openDashboard(parts); // docs/dashboard.md: page, files, live feed
  const handle = dispatcher([...ROUTES, ...dashboardRoutes(dashboard)], parts, {
    limiter,
    shutdown: shutdown.signal,
  });
  const server = await listen(opts, handle);
  if (opts.resultKeyPem === undefined)
    log.warn('result_key_ephemeral', {
      keyId: signer.jwk.kid,
      detail: 'results signed now stop verifying when this process ends (no persistent key)',
    });
  log.info('verifier_started', {
    url: server.url,
    keyId: signer.jwk.kid,
    schema: opened?.schema ?? null,
    store: opened?.kind ?? 'given',
    agents: agents.length,
    metricsPublic: opts.metricsPublic,
  });
  return {
    url: server.url,
    async close() {
      log.info('verifier_stopping', {});
      shutdown.abort();
      dashboard.feed.close();
      await server.close();
      await opened?.close();
      await telemetry.close();
      log.info('verifier_stopped', {});
    },
  };
}
