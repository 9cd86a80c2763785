import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VerifierError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RateLimiter } from '../ratelimit.ts';
import type { Context, VerifierParts } from '../routes/context.ts';
import { sendError } from './respond.ts';

/**
 * `public`: no token, rate-limited per client address (docs/api.md, "Rate limits"): receipts by
 * id and what a client needs to check one. `token`: the handler checks an agent or reader token.
 * `metrics`: a reader token, or public with `metricsPublic`.
 */
export type Access = 'public' | 'token' | 'metrics';

/** One endpoint: method and path pattern, who may call it, and its handler (routes/). */
export type Route = {
  method: string;
  pattern: RegExp;
  access: Access;
  handle: (ctx: Context, m: RegExpExecArray) => Promise<void>;
};

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

/** What the dispatcher needs besides the routes and the service's parts. */
export interface DispatchOptions {
  /** Per-address buckets of requests that carry no token to check; null: no rate limit. */
  limiter: RateLimiter | null;
  /** Aborted when the service stops (ends pending long-polls). */
  shutdown: AbortSignal;
}

/**
 * The request handler of the service: gives each request an id, a child log and a context,
 * finds its route, applies the rate limit to requests without a token to check, runs the
 * handler and answers every error in the one JSON error shape (docs/api.md).
 */
export function dispatcher(
  routes: readonly Route[],
  parts: VerifierParts,
  o: DispatchOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const labels = new Map(routes.map((r) => [r, routeLabel(r)]));
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://verifier.invalid');
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const rlog = parts.log.child({ requestId });
    const t0 = performance.now();
    let label = 'unmatched';
    res.on('finish', () => {
      parts.metrics.http(label, req.method ?? '', res.statusCode);
      rlog.debug('request', {
        method: req.method,
        route: label,
        status: res.statusCode,
        ms: Math.round(performance.now() - t0),
      });
    });
    let signal: AbortSignal | undefined;
    const ctx: Context = {
      ...parts,
      // Made on first use: most handlers never wait, and an aborted controller per request
      // (its DOMException and stack) was ~1 % of a loaded verifier's CPU.
      get signal(): AbortSignal {
        signal ??= requestSignal(res, o.shutdown);
        return signal;
      },
      req,
      res,
      url,
      log: rlog,
      requestId,
    };
    try {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      const route = matching.find((r) => r.method === req.method);
      if (route !== undefined) label = labels.get(route)!;
      limit(ctx, o.limiter, route, label);
      if (route === undefined) {
        throw matching.length > 0
          ? new VerifierError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`)
          : new VerifierError('ROUTE_NOT_FOUND', `no endpoint ${url.pathname}`);
      }
      await route.handle(ctx, route.pattern.exec(url.pathname)!);
    } catch (err) {
      answerError(ctx, label, err);
    }
  };
}

/** Aborted when `res`'s connection closes before its answer is sent, or when `shutdown` is. */
function requestSignal(res: ServerResponse, shutdown: AbortSignal): AbortSignal {
  const conn = new AbortController();
  if (res.closed) conn.abort();
  else res.once('close', () => conn.abort());
  return AbortSignal.any([conn.signal, shutdown]);
}

/**
 * Every request that carries no token to check (public routes, and paths or methods that match
 * none) takes from its address's bucket first.
 * @throws VerifierError RATE_LIMITED
 */
function limit(ctx: Context, limiter: RateLimiter | null, route: Route | undefined, label: string): void {
  const open = route?.access === 'public' || (route?.access === 'metrics' && ctx.options.metricsPublic);
  if (limiter === null || (route !== undefined && !open)) return;
  const client = limiter.clientOf(ctx.req.socket.remoteAddress, ctx.req.headers['x-forwarded-for']);
  const d = limiter.take(client);
  if (d.ok) return;
  ctx.metrics.rateLimited();
  ctx.log.warn('rate_limited', { remote: client, route: label });
  ctx.res.setHeader('retry-after', String(d.retryAfterSeconds));
  throw new VerifierError('RATE_LIMITED', `too many requests; retry in ${d.retryAfterSeconds} s`);
}

/** Logs a failed request as its kind deserves and answers it in the JSON error shape. */
function answerError(ctx: Context, label: string, err: unknown): void {
  const { req, res, log } = ctx;
  if (err instanceof VerifierError) {
    if (err.code === 'TOKEN_INVALID' || err.code === 'TOKEN_AGENT_MISMATCH') {
      ctx.metrics.authFailure(err.code);
      // The code and the route, never the token (nor any part of it).
      log.warn('auth_failed', { code: err.code, route: label, remote: req.socket.remoteAddress });
    } else if (err.code === 'STORE_FAILED') log.error('store_failed', { route: label, cause: causeOf(err) });
    else if (err.code !== 'RATE_LIMITED') logRefusal(log, label, err.code);
    sendError(res, err.code, err.message, err.code === 'BODY_TOO_LARGE' || !req.complete);
  } else if (err instanceof URIError) {
    sendError(res, 'BODY_MALFORMED', 'bad percent-encoding in the path');
  } else {
    // Never the error's text to the client: it may hold request bytes. The log gets the
    // error's name and code, and the message of a SQLite error (names tables, not values).
    log.error('store_failed', { route: label, cause: causeOf(err) });
    sendError(res, 'STORE_FAILED', 'internal error', true);
  }
}

function logRefusal(log: Logger, route: string, code: string): void {
  log[ENROLMENT_REFUSALS.has(code) ? 'warn' : 'debug']('request_refused', { route, code });
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
