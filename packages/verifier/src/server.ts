import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getBundle } from './api/bundle.ts';
import type { Context } from './api/context.ts';
import { enroll } from './api/enroll.ts';
import { push } from './api/push.ts';
import { getAgents, getByRequest, getReceipt, getVerifierKey } from './api/read.ts';
import { postCheckpointKey } from './attest/ckey.ts';
import { activateAk, enrollAk } from './attest/enroll.ts';
import { issueNonce, postEvidence } from './attest/evidence.ts';
import { lookupsOf } from './attest/kernel.ts';
import { getConsistency, getQuotedCheckpoint } from './attest/read.ts';
import { createAttestService } from './attest/service.ts';
import { loadAttest } from './attest/state.ts';
import { TokenAuth } from './auth.ts';
import { createResultSigner } from './ear.ts';
import { VerifierError } from './errors.ts';
import { HostAppraiser, loadReferences, postHostLog } from './host/index.ts';
import { sendError, sendJson } from './http/respond.ts';
import { getMetrics, VerifierMetrics } from './metrics.ts';
import { resolveOptions, type VerifierOptions } from './options.ts';
import { RateLimiter } from './ratelimit.ts';
import { SqliteStore } from './store/sqlite.ts';
import type { KeyRecord, Store } from './store/types.ts';
import { getTelemetryFinding, postTelemetry } from './telemetry/routes.ts';
import { TelemetryService } from './telemetry/service.ts';
import { Waiters } from './waiters.ts';

/** A started verifier. */
export interface RunningVerifier {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops accepting, ends pending long-polls, closes connections and the store. */
  close(): Promise<void>;
}

/**
 * `public`: no token, rate-limited per client address (docs/api.md, "Rate limits"): receipts by
 * id and what a client needs to check one. `token`: the handler checks an agent or reader token.
 * `metrics`: a reader token, or public with `metricsPublic`.
 */
type Access = 'public' | 'token' | 'metrics';

type Route = {
  method: string;
  pattern: RegExp;
  access: Access;
  handle: (ctx: Context, m: RegExpExecArray) => Promise<void>;
};

const ROUTES: Route[] = [
  { method: 'POST', pattern: /^\/v1\/agents\/enroll$/, access: 'token', handle: (ctx) => enroll(ctx) },
  { method: 'POST', pattern: /^\/v1\/receipts$/, access: 'token', handle: (ctx) => push(ctx) },
  {
    method: 'GET',
    pattern: /^\/v1\/receipts\/([^/]+)$/,
    access: 'public',
    handle: (ctx, m) => getReceipt(ctx, m[1]!),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/receipts\/([^/]+)\/bundle$/,
    access: 'public',
    handle: (ctx, m) => getBundle(ctx, m[1]!),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/requests\/([^/]+)$/,
    access: 'token',
    handle: (ctx, m) => getByRequest(ctx, decodeURIComponent(m[1]!)),
  },
  { method: 'GET', pattern: /^\/v1\/agents$/, access: 'token', handle: (ctx) => getAgents(ctx) },
  { method: 'POST', pattern: /^\/v1\/attest\/enroll$/, access: 'token', handle: (ctx) => enrollAk(ctx) },
  { method: 'POST', pattern: /^\/v1\/attest\/activate$/, access: 'token', handle: (ctx) => activateAk(ctx) },
  { method: 'POST', pattern: /^\/v1\/attest\/nonce$/, access: 'token', handle: (ctx) => issueNonce(ctx) },
  {
    method: 'POST',
    pattern: /^\/v1\/attest\/checkpoint-key$/,
    access: 'token',
    handle: (ctx) => postCheckpointKey(ctx),
  },
  {
    method: 'POST',
    pattern: /^\/v1\/attest\/evidence$/,
    access: 'token',
    handle: (ctx) => postEvidence(ctx),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/agents\/([^/]+)\/checkpoint$/,
    access: 'public',
    handle: (ctx, m) => getQuotedCheckpoint(ctx, m[1]!),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/agents\/([^/]+)\/proof\/consistency$/,
    access: 'public',
    handle: (ctx, m) => getConsistency(ctx, m[1]!),
  },
  { method: 'POST', pattern: /^\/v1\/telemetry$/, access: 'token', handle: (ctx) => postTelemetry(ctx) },
  { method: 'POST', pattern: /^\/v1\/host\/log$/, access: 'token', handle: (ctx) => postHostLog(ctx) },
  {
    method: 'GET',
    pattern: /^\/v1\/telemetry\/receipts\/([^/]+)$/,
    access: 'public',
    handle: (ctx, m) => getTelemetryFinding(ctx, m[1]!),
  },
  { method: 'GET', pattern: /^\/v1\/verifier-key$/, access: 'public', handle: (ctx) => getVerifierKey(ctx) },
  { method: 'GET', pattern: /^\/metrics$/, access: 'metrics', handle: (ctx) => getMetrics(ctx) },
  {
    method: 'GET',
    pattern: /^\/healthz$/,
    access: 'public',
    handle: async (ctx) => sendJson(ctx.res, 200, { ok: true }),
  },
];

/** A route's pattern as a bounded metrics label: `/v1/receipts/:id`. */
function routeLabel(r: Route): string {
  return r.pattern.source
    .replace(/^\^|\$$/g, '')
    .replaceAll('\\/', '/')
    .replaceAll('([^/]+)', ':id');
}

/** Refusals an operator wants to see (warn): enrolment and AK trouble. Others log at debug. */
const ENROLMENT_REFUSALS: ReadonlySet<string> = new Set([
  'ACTIVATION_FAILED',
  'AK_REPLACEMENT_REFUSED',
  'ENROL_PROOF_INVALID',
  'ENROL_KEY_CONFLICT',
  'CHECKPOINT_KEY_EXISTS',
  'AK_NOT_ENROLLED',
]);

/** A client's `x-request-id` is echoed and logged only when it is this short and plain. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
    opts.store === undefined
      ? new SqliteStore(opts.dbPath, {
          onMigrated: (m) => log.info('store_migrated', { version: m.version, description: m.description }),
        })
      : null;
  const store: Store = opts.store ?? opened!;
  const auth = new TokenAuth(opts.tokens, opts.readerTokens);
  const waiters = new Waiters();
  const attest = createAttestService(store, {
    roots: opts.tpmRoots,
    nonceTtlMs: opts.nonceTtlMs,
    now: opts.now,
    inclusionDeadlineMs: opts.inclusionDeadlineMs,
  });
  const limiter = opts.rateLimit === false ? null : new RateLimiter(opts.rateLimit, opts.now);
  const telemetry = new TelemetryService(opts.dbPath, opts.telemetry, hostRefs.registry);
  const hostAppraiser = new HostAppraiser(store, hostRefs);
  const keys = new Map<string, KeyRecord>();
  const shutdown = new AbortController();
  const agents = [...new Set(opts.tokens.map((t) => t.agent))];
  const metrics = new VerifierMetrics(async () => {
    const last = new Map<string, number | null>();
    for (const a of agents) last.set(a, (await loadAttest(store, a))?.acceptedAt ?? null);
    return last;
  }, opts.now);
  const labels = new Map(ROUTES.map((r) => [r, routeLabel(r)]));

  const server = createServer(
    {
      requestTimeout: opts.requestTimeoutMs,
      headersTimeout: Math.min(opts.requestTimeoutMs, 10_000),
      connectionsCheckingInterval: Math.min(opts.requestTimeoutMs, 1000),
    },
    (req, res) => {
      handle(req, res).catch(() => res.destroy());
    },
  );
  // Node answers unparseable requests and request timeouts itself, with no body; answer them in
  // the same JSON error shape as everything else.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const body = JSON.stringify({
      error: timeout
        ? { code: 'REQUEST_TIMEOUT', message: `request not received within ${opts.requestTimeoutMs} ms` }
        : { code: 'BODY_MALFORMED', message: 'malformed HTTP request' },
    });
    socket.end(
      `HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  // Idle sockets: long enough for the longest long-poll, short enough not to pile up.
  server.timeout = opts.maxWaitMs + 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://verifier.invalid');
    const conn = new AbortController();
    res.on('close', () => conn.abort());
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const rlog = log.child({ requestId });
    const t0 = performance.now();
    let label = 'unmatched';
    res.on('finish', () => {
      metrics.http(label, req.method ?? '', res.statusCode);
      rlog.debug('request', {
        method: req.method,
        route: label,
        status: res.statusCode,
        ms: Math.round(performance.now() - t0),
      });
    });
    const ctx: Context = {
      store,
      keys,
      auth,
      waiters,
      options: opts,
      signer,
      attest,
      telemetry,
      host: hostAppraiser,
      signal: AbortSignal.any([conn.signal, shutdown.signal]),
      req,
      res,
      url,
      log: rlog,
      metrics,
      requestId,
    };
    try {
      const routes = ROUTES.filter((r) => r.pattern.test(url.pathname));
      const route = routes.find((r) => r.method === req.method);
      if (route !== undefined) label = labels.get(route)!;
      const open = route?.access === 'public' || (route?.access === 'metrics' && opts.metricsPublic);
      // Every request that carries no token to check (public routes, and paths or methods
      // that match none) takes from its address's bucket first.
      if (limiter !== null && (route === undefined || open)) {
        const d = limiter.take(req.socket.remoteAddress ?? 'unknown');
        if (!d.ok) {
          metrics.rateLimited();
          rlog.warn('rate_limited', { remote: req.socket.remoteAddress, route: label });
          res.setHeader('retry-after', String(d.retryAfterSeconds));
          throw new VerifierError('RATE_LIMITED', `too many requests; retry in ${d.retryAfterSeconds} s`);
        }
      }
      if (route === undefined) {
        throw routes.length > 0
          ? new VerifierError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`)
          : new VerifierError('ROUTE_NOT_FOUND', `no endpoint ${url.pathname}`);
      }
      await route.handle(ctx, route.pattern.exec(url.pathname)!);
    } catch (err) {
      if (err instanceof VerifierError) {
        if (err.code === 'TOKEN_INVALID' || err.code === 'TOKEN_AGENT_MISMATCH') {
          metrics.authFailure(err.code);
          // The code and the route, never the token (nor any part of it).
          rlog.warn('auth_failed', { code: err.code, route: label, remote: req.socket.remoteAddress });
        } else if (err.code === 'STORE_FAILED')
          rlog.error('store_failed', { route: label, cause: causeOf(err) });
        else if (err.code !== 'RATE_LIMITED')
          rlog[ENROLMENT_REFUSALS.has(err.code) ? 'warn' : 'debug']('request_refused', {
            route: label,
            code: err.code,
          });
        sendError(res, err.code, err.message, err.code === 'BODY_TOO_LARGE' || !req.complete);
      } else if (err instanceof URIError) {
        sendError(res, 'BODY_MALFORMED', 'bad percent-encoding in the path');
      } else {
        // Never the error's text to the client: it may hold request bytes. The log gets the
        // error's name and code, and the message of a SQLite error (names tables, not values).
        rlog.error('store_failed', { route: label, cause: causeOf(err) });
        sendError(res, 'STORE_FAILED', 'internal error', true);
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${host}:${port}`;
  if (opts.resultKeyPem === undefined)
    log.warn('result_key_ephemeral', {
      keyId: signer.jwk.kid,
      detail: 'results signed now stop verifying when this process ends (no persistent key)',
    });
  log.info('verifier_started', {
    url,
    keyId: signer.jwk.kid,
    schema: opened?.schema.to ?? null,
    agents: agents.length,
    metricsPublic: opts.metricsPublic,
  });
  return {
    url,
    async close() {
      log.info('verifier_stopping', {});
      shutdown.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give pending long-polls one turn to answer 404, then cut whatever is left.
      await new Promise((r) => setImmediate(r));
      server.closeAllConnections();
      await closed;
      await opened?.close();
      telemetry.close();
      log.info('verifier_stopped', {});
    },
  };
}

/** What the log may say of an internal error: its name and code; a SQLite error's message. */
function causeOf(err: unknown): string {
  let e: unknown = err;
  while (e instanceof VerifierError && e.cause !== undefined) e = e.cause;
  if (!(e instanceof Error)) return typeof e;
  const code = (e as { code?: unknown }).code;
  const sqlite = typeof code === 'string' && code.startsWith('ERR_SQLITE');
  return [e.name, typeof code === 'string' ? code : '', sqlite ? e.message : ''].filter(Boolean).join(': ');
}
