import { VerifierError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import type { Context } from './context.ts';

/**
 * GET /metrics (docs/api.md, "GET /metrics"): the Prometheus text exposition. Needs a reader token
 * unless the verifier runs with `metricsPublic` (then it is rate-limited like the public reads).
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH (an agent token)
 */
export async function getMetrics(ctx: Context): Promise<void> {
  if (!ctx.options.metricsPublic) {
    const grant = ctx.auth.check(ctx.req.headers.authorization);
    if (grant.kind !== 'reader')
      throw new VerifierError(
        'TOKEN_AGENT_MISMATCH',
        'an agent token cannot read /metrics: use a reader token',
      );
  }
  const { text, contentType } = await ctx.metrics.scrape();
  const body = Buffer.from(text, 'utf8');
  ctx.res.writeHead(200, {
    'content-type': contentType,
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  ctx.res.end(body);
}

/** GET /healthz: 200 `{"ok": true}` while the service answers. */
export async function getHealth(ctx: Context): Promise<void> {
  sendJson(ctx.res, 200, { ok: true });
}
