import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { AgentError } from '../errors.ts';
import type { Exchange } from './exchange.ts';
import { endToEnd } from './headers.ts';
import { ResponseInspector } from './inspect.ts';

/**
 * Sends the exchange's (fully buffered) request to the model server and relays the answer;
 * `fresh`: on a new connection outside the keep-alive pool (the one retry of a stale socket).
 */
export function forward(x: Exchange, headers: OutgoingHttpHeaders, fresh: boolean): void {
  const { ctx, req } = x;
  const base = ctx.upstream;
  const ureq = (base.protocol === 'https:' ? httpsRequest : httpRequest)({
    protocol: base.protocol,
    hostname: base.hostname,
    port: base.port,
    method: req.method,
    path: base.pathname.replace(/\/$/, '') + (req.url ?? '/'),
    headers,
    agent: fresh ? false : ctx.upstreamAgent,
    timeout: ctx.opts.upstreamTimeoutMs,
  });
  x.up = ureq;
  let readBefore = 0;
  ureq.once('socket', (socket) => {
    readBefore = socket.bytesRead;
  });
  ureq.on('timeout', () => {
    x.timedOut = true;
    ureq.destroy(new AgentError('UPSTREAM_TIMEOUT', 'upstream idle past the timeout'));
  });
  ureq.on('error', (err: NodeJS.ErrnoException) => {
    if (x.finished || x.up !== ureq) return;
    if (!fresh && staleReuse(ureq, err, readBefore) && !x.timedOut && !x.responded && !x.res.headersSent) {
      // A kept-alive connection the model server had already closed: nothing reached it, nothing
      // was answered, and the body is all here, so it is sent once more on a new connection.
      ctx.log('upstream_retried', {
        receiptId: x.record.id,
        requestId: x.record.requestId,
        code: err.code,
        error: err.message,
      });
      forward(x, headers, true);
      return;
    }
    x.logBroken(err, ureq, fresh);
    void (x.res.headersSent ? x.finish(x.broken()) : x.upstreamFailed());
  });
  ureq.on('response', (ures) => relay(x, ureq, ures, fresh));
  ureq.end(x.requestBody);
}

/** Relays the model server's answer: its head at once, its body chunk by chunk with backpressure. */
function relay(x: Exchange, ureq: ClientRequest, ures: IncomingMessage, fresh: boolean): void {
  const { res } = x;
  x.responded = true;
  x.upstreamStatus = ures.statusCode ?? null;
  x.inspector = new ResponseInspector(ures.headers['content-type'], ures.headers['content-encoding']);
  res.writeHead(ures.statusCode ?? 502, { ...endToEnd(ures.headers), ...x.tmbHeaders() });
  const length = Number(ures.headers['content-length']);
  if (ures.headers['content-length'] !== undefined && Number.isSafeInteger(length)) x.expectLength(length);
  if (x.inspector.stream) res.flushHeaders();
  ures.on('data', (chunk: Buffer) => {
    if (x.finished) return;
    x.inspector.push(chunk);
    if (!x.send(chunk)) {
      ures.pause();
      res.once('drain', () => ures.resume());
    }
  });
  ures.on('end', () => void x.finish('complete'));
  ures.on('error', (err) => {
    if (!x.finished) x.logBroken(err, ureq, fresh);
    void x.finish(x.broken());
  });
  ures.on('close', () => {
    if (ures.complete || x.finished) return;
    x.logBroken(undefined, ureq, fresh);
    void x.finish(x.broken());
  });
}

/** Errors of a connection the peer closed or reset under a request that it never read. */
const STALE = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Whether `err` is a kept-alive socket that the model server closed while it sat idle in the pool
 * (its close not yet seen here, e.g. while this process was busy): the socket was reused, it failed
 * with a reset or broken pipe, and not one byte came back on it for this request. Node's client
 * retries nothing; such a request is safe to send again, since no server read it.
 */
function staleReuse(req: ClientRequest, err: NodeJS.ErrnoException, readBefore: number): boolean {
  return (
    req.reusedSocket && STALE.has(err.code ?? '') && (req.socket?.bytesRead ?? readBefore) === readBefore
  );
}
