import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Exchange } from './exchange.ts';
import { endToEnd } from './headers.ts';
import { ResponseInspector } from './inspect.ts';
import type { PooledCall } from './pool.ts';

/**
 * Sends the exchange's (fully buffered) request to the model server and relays the answer;
 * `fresh`: on a new connection outside the keep-alive pool (the one retry of a stale socket).
 * undici's dispatch API, not node:http's client: no stream objects per request or per chunk.
 * Measured (issue 12, agent thread CPU, same-run A/B on a shared 2-core machine): with the
 * receipt-path changes of the same issue, 12-22% less per non-streamed request (16-64 clients)
 * and ~65% less per relayed SSE event.
 */
export function forward(x: Exchange, headers: OutgoingHttpHeaders, fresh: boolean): void {
  const { ctx, req } = x;
  const call = new UpstreamCall(x, headers, fresh);
  x.up = call;
  const dispatcher = fresh ? ctx.upstream.fresh() : ctx.upstream.pool;
  dispatcher.dispatch(
    {
      method: req.method ?? 'GET',
      path: ctx.upstreamPath + (req.url ?? '/'),
      headers: headers as Record<string, string | string[]>,
      body: x.requestBody.length > 0 || headers['content-length'] !== undefined ? x.requestBody : null,
      // The body is all here and a retry is decided below (staleReuse), never by undici.
      idempotent: false,
    },
    call,
  );
}

/** Errors of a connection the peer closed or reset under a request that it never answered. */
const STALE = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
/** undici's timeouts: connect, the answer's head, the gap between two body chunks. */
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * One upstream request of an exchange, as undici's dispatch handler: the answer's head is relayed
 * at once, its body chunk by chunk (hashed, inspected, written) with backpressure.
 */
class UpstreamCall implements PooledCall {
  reused = false;
  readonly #x: Exchange;
  readonly #headers: OutgoingHttpHeaders;
  readonly #fresh: boolean;
  #controller: Dispatcher.DispatchController | undefined;
  /** A byte of the answer arrived (its head may be incomplete). */
  #answered = false;
  #cancelled = false;
  /** Body chunks of the current read, not yet relayed. */
  #queued: Buffer[] = [];

  constructor(x: Exchange, headers: OutgoingHttpHeaders, fresh: boolean) {
    this.#x = x;
    this.#headers = headers;
    this.#fresh = fresh;
  }

  /** The client left: stop the upstream request, wherever it is (queued, sent, answering). */
  cancel(): void {
    this.#cancelled = true;
    this.#controller?.abort(new Error('the client went away'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#cancelled) controller.abort(new Error('the client went away'));
  }

  onResponseStarted(): void {
    this.#answered = true;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (status < 200 || this.#x.finished) return; // 1xx: informational, not relayed
    const x = this.#x;
    this.#answered = true;
    x.responded = true;
    x.upstreamStatus = status;
    x.inspector = new ResponseInspector(
      headerValue(headers['content-type']),
      headerValue(headers['content-encoding']),
    );
    const { res } = x;
    res.writeHead(status, { ...endToEnd(headers), ...x.tmbHeaders() });
    const declared = headers['content-length'];
    const length = Number(declared);
    if (typeof declared === 'string' && Number.isSafeInteger(length)) x.expectLength(length);
    if (x.inspector.stream) res.flushHeaders();
    this.#controller = controller;
  }

  /**
   * Body chunks are relayed once per socket read, not once per chunk: every chunk undici's parser
   * finds in one read (an SSE stream sends one HTTP chunk per event) is queued, and one microtask
   * after the read hashes, inspects and writes them as one buffer: one chunk frame and one write
   * to the client per read. The bytes and their order are unchanged.
   */
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#x.finished) return;
    this.#controller = controller;
    if (this.#queued.push(chunk) === 1) queueMicrotask(this.#relay);
  }

  /** Relays the queued chunks (at most once per read; at the end and on an error, at once). */
  readonly #relay = (): void => {
    const queued = this.#queued;
    if (queued.length === 0) return;
    this.#queued = [];
    const x = this.#x;
    if (x.finished) return;
    const chunk = queued.length === 1 ? queued[0]! : Buffer.concat(queued);
    x.inspector.push(chunk);
    if (!x.send(chunk)) {
      const controller = this.#controller;
      controller?.pause();
      x.res.once('drain', () => controller?.resume());
    }
  };

  onResponseEnd(): void {
    this.#relay();
    void this.#x.finish('complete');
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.#relay(); // what arrived before the error reaches the client, as it would have chunk by chunk
    const x = this.#x;
    if (x.finished || x.up !== this) return;
    const e = err as NodeJS.ErrnoException;
    if (TIMEOUTS.has(e.code ?? '')) x.timedOut = true;
    if (!this.#fresh && this.#staleReuse(e) && !x.timedOut && !x.responded && !x.res.headersSent) {
      // A kept-alive connection the model server had already closed: nothing came back on it, and
      // the body is all here, so it is sent once more on a new connection.
      x.ctx.log('upstream_retried', {
        receiptId: x.record.id,
        requestId: x.record.requestId,
        code: e.code,
        error: e.message,
      });
      forward(x, this.#headers, true);
      return;
    }
    x.logBroken(err, this.reused, this.#fresh);
    void (x.res.headersSent ? x.finish(x.broken()) : x.upstreamFailed());
  }

  /**
   * Whether `err` is a kept-alive socket that the model server closed while it sat idle in the
   * pool (its close not yet seen here, e.g. while this process was busy): the connection was
   * reused, it failed with a reset, broken pipe or close, and not one byte came back on it for this
   * request. Such a request is safe to send again, since no server read it.
   */
  #staleReuse(err: NodeJS.ErrnoException): boolean {
    return this.reused && !this.#answered && STALE.has(err.code ?? '');
  }
}

/** A header's single value (a repeated one is not a usable content type). */
function headerValue(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
