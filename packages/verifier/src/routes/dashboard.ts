// The dashboard's routes (docs/dashboard.md): the page and its files (public: they hold no data)
// and its JSON (a reader token sees every host, an agent token only its own). A receipt's
// evidence chain is GET /v1/receipts/:id itself, unchanged.

import { TokenAuth } from '../auth.ts';
import { type Asset, acceptsGzip, DASHBOARD_CSP, loadAssets, matchesEtag } from '../dashboard/assets.ts';
import { VerdictFeed } from '../dashboard/feed.ts';
import { hostViews } from '../dashboard/hosts.ts';
import { summarise } from '../dashboard/summary.ts';
import { MAX_MINUTES, telemetryView } from '../dashboard/telemetry.ts';
import { VerifierError } from '../errors.ts';
import type { Route } from '../http/dispatch.ts';
import { sendJson } from '../http/respond.ts';
import type { Context, VerifierParts } from './context.ts';
import { getDashboardStream } from './dashboard-stream.ts';
import { pathAgent } from './request.ts';

/** The dashboard of one verifier: its files and its live feed. */
export interface Dashboard {
  assets: Map<string, Asset>;
  feed: VerdictFeed;
  /** The agents the verifier has tokens for (listed even before they enrol). */
  agents: readonly string[];
}

/**
 * Loads the dashboard's files and starts its feed on the verifier's parts (the feed listens on
 * `parts.waiters`; docs/dashboard.md). Stop it with `dashboard.feed.close()`.
 * @throws Error when a dashboard file is missing from the package
 */
export async function openDashboard(parts: VerifierParts): Promise<Dashboard> {
  const sources = {
    store: parts.store,
    attest: parts.attest,
    host: parts.host,
    telemetry: parts.telemetry,
  };
  const feed = new VerdictFeed({
    summarise: (id) => summarise(sources, id),
    now: parts.options.now,
    onError: (err) => parts.log.warn('dashboard_summary_failed', { cause: (err as Error).name }),
  });
  feed.tap(parts.waiters);
  const agents = [...new Set(parts.options.tokens.map((t) => t.agent))];
  return { assets: await loadAssets(), feed, agents };
}

/** The dashboard's endpoints, for the verifier's routing table (server.ts). */
export function dashboardRoutes(d: Dashboard): Route[] {
  const agent = '([^/]+)';
  return [
    {
      method: 'GET',
      pattern: /^\/dashboard\/?$/,
      access: 'public',
      handle: (c) => sendAsset(c, d, 'index.html'),
    },
    {
      method: 'GET',
      pattern: /^\/dashboard\/assets\/([a-z.]{1,32})$/,
      access: 'public',
      handle: (c, m) => sendAsset(c, d, m[1]!),
    },
    { method: 'GET', pattern: /^\/v1\/dashboard\/hosts$/, access: 'token', handle: (c) => getHosts(c, d) },
    {
      method: 'GET',
      pattern: new RegExp(`^\\/v1\\/dashboard\\/hosts\\/${agent}\\/telemetry$`),
      access: 'token',
      handle: (c, m) => getTelemetry(c, d, m[1]!),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/dashboard\/stream$/,
      access: 'token',
      handle: (c) => getDashboardStream(c, d.feed),
    },
  ];
}

/**
 * GET /dashboard, /dashboard/assets/NAME: a static file, with a strict Content-Security-Policy,
 * an ETag (304 when it matches) and gzip when accepted. 404 ROUTE_NOT_FOUND for another name.
 */
async function sendAsset(ctx: Context, d: Dashboard, name: string): Promise<void> {
  const a = d.assets.get(name);
  if (a === undefined) throw new VerifierError('ROUTE_NOT_FOUND', `no dashboard file ${name}`);
  const { req, res } = ctx;
  res.setHeader('content-security-policy', DASHBOARD_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('etag', a.etag);
  res.setHeader('vary', 'accept-encoding');
  // The page revalidates on every load; its files may be reused for five minutes.
  res.setHeader('cache-control', name === 'index.html' ? 'no-cache' : 'public, max-age=300');
  if (matchesEtag(req.headers['if-none-match'], a.etag)) {
    res.writeHead(304).end();
    return;
  }
  const gzip = a.gzip !== null && acceptsGzip(req.headers['accept-encoding']);
  const body = gzip ? a.gzip! : a.body;
  res.writeHead(200, {
    'content-type': a.type,
    'content-length': body.length,
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  res.end(body);
}

/**
 * GET /v1/dashboard/hosts: each host with its TPM, last quote, policy state and recent verdicts
 * (dashboard/hosts.ts). A reader token lists every host, an agent token only its own.
 * @throws VerifierError TOKEN_INVALID
 */
async function getHosts(ctx: Context, d: Dashboard): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  d.feed.touch();
  const s = { store: ctx.store, segments: ctx.attest.segments, recent: (a: string) => d.feed.recent(a) };
  const { hosts, truncated } = await hostViews(s, grant.kind === 'agent' ? grant.agent : null, d.agents);
  sendJson(ctx.res, 200, {
    now: ctx.options.now(),
    feed: { streams: d.feed.streams, active: d.feed.active },
    telemetry: ctx.telemetry?.profiles.configured ?? false,
    hosts,
    truncated,
  });
}

/**
 * GET /v1/dashboard/hosts/:agent/telemetry[?minutes=N]: the host's samples over the last N
 * minutes (default 2, at most MAX_MINUTES), its recent requests' features and its profile.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | ROUTE_NOT_FOUND (no telemetry)
 */
async function getTelemetry(ctx: Context, d: Dashboard, raw: string): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const agent = pathAgent(raw);
  if (!TokenAuth.canRead(grant, agent))
    throw new VerifierError('TOKEN_AGENT_MISMATCH', `this token may not read agent ${JSON.stringify(agent)}`);
  const t = ctx.telemetry;
  if (t === undefined) throw new VerifierError('ROUTE_NOT_FOUND', 'telemetry is not enabled');
  const m = ctx.url.searchParams.get('minutes') ?? '2';
  if (!/^[0-9]{1,2}$/.test(m) || Number(m) < 1 || Number(m) > MAX_MINUTES)
    throw new VerifierError('BODY_MALFORMED', `minutes must be a whole number from 1 to ${MAX_MINUTES}`);
  d.feed.touch();
  const view = await telemetryView(
    { store: t.store, profiles: t.profiles, recent: (a) => d.feed.recent(a) },
    agent,
    Number(m),
  );
  sendJson(ctx.res, 200, view);
}
