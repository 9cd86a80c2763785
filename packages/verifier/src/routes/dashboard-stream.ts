import { TokenAuth } from '../auth.ts';
import type { FeedEvent, VerdictFeed } from '../dashboard/feed.ts';
import { VerifierError } from '../errors.ts';
import type { Context } from './context.ts';

/** Most dashboard streams open at once (each is a socket and a timer). */
export const MAX_STREAMS = 32;

/** A heartbeat line this often keeps proxies from closing an idle stream and shows it is alive. */
export const HEARTBEAT_MS = 15_000;

/** Bytes a stream may have waiting for a slow reader; past it verdicts are dropped and counted. */
export const MAX_BUFFERED = 64 * 1024;

/** Verdicts a new stream is sent first (the feed's most recent ones it may read). */
const BACKLOG = 50;

/**
 * GET /v1/dashboard/stream: newline-delimited JSON (FeedEvent per line, after a `hello` line and
 * the recent backlog) of the verdicts this process composes, until the client goes away or the
 * verifier stops. A reader token hears every agent, an agent token only its own. A reader that
 * cannot keep up loses verdicts, and is told how many in a `dropped` line, rather than have them
 * buffered without limit. 429 RATE_LIMITED past MAX_STREAMS open streams.
 * @throws VerifierError TOKEN_INVALID | RATE_LIMITED
 */
export async function getDashboardStream(ctx: Context, feed: VerdictFeed): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  if (feed.streams >= MAX_STREAMS)
    throw new VerifierError('RATE_LIMITED', `at most ${MAX_STREAMS} dashboard streams are open at once`);
  const { res } = ctx;
  res.writeHead(200, {
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // nginx would otherwise buffer the stream (the demo's load balancer is nginx).
    'x-accel-buffering': 'no',
  });
  const accepts = (agent: string) => TokenAuth.canRead(grant, agent);
  let dropped = 0;
  const send = (e: FeedEvent): void => {
    if (res.destroyed || res.writableEnded) return;
    if (res.writableLength > MAX_BUFFERED) {
      if (e.type === 'verdict') dropped++;
      else if (e.type === 'dropped') dropped += e.count;
      return;
    }
    if (dropped > 0) {
      res.write(line({ type: 'dropped', count: dropped, reason: 'this stream was read too slowly' }));
      dropped = 0;
    }
    res.write(line(e));
  };
  res.write(
    line({
      type: 'hello',
      at: ctx.options.now(),
      agent: grant.kind === 'agent' ? grant.agent : null,
      heartbeatMs: HEARTBEAT_MS,
    }),
  );
  for (const verdict of feed.backlog(accepts, BACKLOG)) send({ type: 'verdict', verdict });
  const off = feed.subscribe({ accepts, send });
  const beat = setInterval(() => send({ type: 'heartbeat', at: ctx.options.now() }), HEARTBEAT_MS);
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    clearInterval(beat);
    off();
    if (!res.destroyed) res.end();
  }
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
