import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Outcome } from '@tmb/core';
import type { AgentError } from '../errors.ts';
import type { ResolvedAgentOptions } from '../options.ts';
import { ExchangeRecord } from '../receipt/exchange.ts';
import type { ReceiptSigner } from '../receipt/sign.ts';
import { readBody } from './body.ts';
import { nowUs } from './clock.ts';
import { forward } from './forward.ts';
import { clientNonce, forwardHeaders, providedRequestId } from './headers.ts';
import { NO_USAGE, ResponseInspector, requestedModel } from './inspect.ts';
import type { UpstreamPool } from './pool.ts';

/** What every exchange shares: options, the signer, the upstream connection pool. */
export interface ProxyContext {
  opts: ResolvedAgentOptions;
  signer: Pick<ReceiptSigner, 'issue'>;
  /** The connections to the model server. */
  upstream: UpstreamPool;
  /** The model server's base path, without a trailing slash: prefixed to each request's path. */
  upstreamPath: string;
  /** Called after each receipt is committed, with its outcome (the pusher wakes up, metrics count it). */
  onReceipt: (outcome: Outcome) => void;
  /** Where a client fetches a receipt, or undefined without a verifier. */
  receiptUrl: (id: string) => string | undefined;
  /** Reports an internal failure (never an attacker-controlled message alone). */
  log: (event: string, detail: Record<string, unknown>) => void;
}

/** OpenAI's error shape, for answers the agent makes itself. */
function openAiError(message: string, type: string, code: string): Buffer {
  return Buffer.from(JSON.stringify({ error: { message, type, param: null, code } }));
}

/**
 * Proxies one exchange: reads the request body (bounded), forwards it unchanged, relays the
 * answer chunk by chunk with backpressure while hashing it, and signs and durably stores the
 * receipt (v2, with the client's `tmb-client-nonce`) before the last byte is released to the client.
 */
export async function handleExchange(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const x = new Exchange(ctx, req, res);
  // --- 1. the request body, bounded: nothing is forwarded before all of it is here and under the limit.
  const max = ctx.opts.maxBodyBytes;
  if (Number(req.headers['content-length'] ?? 0) > max) {
    await x.refuseTooLarge();
    return;
  }
  const read = await readBody(req, max, (chunk) => x.record.request(chunk));
  if (read.tooLarge) {
    await x.refuseTooLarge();
    return;
  }
  x.requestBody = read.body;
  if (read.clientGone || !req.complete) {
    await x.finish('client_aborted');
    return;
  }
  // --- 2. forward unchanged (less hop-by-hop headers), relay the answer as it comes (forward.ts).
  const headers = forwardHeaders(req.headers, x.given, x.record.requestId, read.body.length);
  res.on('close', () => {
    if (!res.writableEnded && !x.finished) {
      void x.finish('client_aborted'); // first: the upstream's abort then finds the exchange finished
      x.up?.cancel();
    }
  });
  forward(x, headers, false);
}

/**
 * One exchange in flight: what its receipt records (ExchangeRecord), what the proxy has seen of
 * the answer, and the three ways it ends (finish, an answer of the agent's own, a cut).
 */
export class Exchange {
  readonly ctx: ProxyContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: ExchangeRecord;
  /** The router's usable `x-request-id`, or undefined (the agent's own is then sent upstream). */
  readonly given: string | undefined;
  /** The whole request body once read (empty until then, and for a refused one). */
  requestBody: Buffer = Buffer.alloc(0);
  inspector = new ResponseInspector(undefined, undefined);
  upstreamStatus: number | null = null;
  /** The receipt was started: nothing more is relayed. */
  finished = false;
  /** The upstream request in flight (a retry replaces it). */
  up: { cancel(): void } | undefined;
  timedOut = false;
  /** The model server answered (its head arrived). */
  responded = false;
  // When the client can tell the body is complete from its length (Content-Length), its last
  // bytes are held back until the receipt is committed: no client holds a whole answer whose
  // receipt could still be lost. Chunked and SSE bodies end with res.end(), which comes after.
  #held: Buffer | undefined;
  #declaredLength = Number.POSITIVE_INFINITY;
  #logged = false;

  constructor(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse) {
    const start = nowUs();
    this.ctx = ctx;
    this.req = req;
    this.res = res;
    this.given = providedRequestId(req.headers);
    // The nonce is read before anything is forwarded; the header itself is forwarded untouched.
    this.record = new ExchangeRecord(start, this.given ?? randomUUID(), clientNonce(req.headers));
  }

  /** The headers every answer carries: the receipt id (and where to fetch it) and the request id. */
  tmbHeaders(): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = {
      'tmb-receipt-id': this.record.id,
      'x-request-id': this.record.requestId,
    };
    const url = this.ctx.receiptUrl(this.record.id);
    if (url !== undefined) h['tmb-receipt-url'] = url;
    return h;
  }

  /** The body length the client was told (Content-Length): bytes from there on are held. */
  expectLength(length: number): void {
    this.#declaredLength = length;
  }

  /** Hashes a response chunk and writes it (or holds it); false when the client is not draining. */
  send(chunk: Buffer): boolean {
    this.record.response(chunk);
    if (this.record.responseBytes >= this.#declaredLength) {
      this.#held = this.#held === undefined ? chunk : Buffer.concat([this.#held, chunk]);
      return true;
    }
    return this.res.write(chunk);
  }

  /** Signs and stores the receipt (once), then ends or cuts the response. */
  async finish(outcome: Outcome, cut = outcome !== 'complete'): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    const { ctx, req, res, record, inspector } = this;
    inspector.finish();
    try {
      await ctx.signer.issue(
        record.fields({
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          status: res.headersSent ? res.statusCode : null,
          upstreamStatus: this.upstreamStatus,
          stream: inspector.stream,
          model: {
            requested: requestedModel(this.requestBody, req.headers['content-type']),
            reported: inspector.model,
          },
          usage: inspector.usage ?? NO_USAGE,
          outcome,
        }),
      );
      ctx.onReceipt(outcome);
    } catch (err) {
      // No receipt, no complete answer: the client must never hold a response whose receipt is lost.
      ctx.log('receipt_failed', {
        receiptId: record.id,
        code: (err as AgentError).code ?? 'UNKNOWN',
        error: String(err),
      });
      res.destroy();
      return;
    }
    if (cut)
      res.destroy(); // a cut stream stays visibly cut for the client
    else res.end(this.#held);
  }

  /** An answer the agent makes itself (413, 502, 504). */
  answer(status: number, body: Buffer, outcome: Outcome, close = false): Promise<void> {
    if (this.res.headersSent) return this.finish(outcome);
    this.res.writeHead(status, {
      ...this.tmbHeaders(),
      'content-type': 'application/json',
      'content-length': body.length,
      ...(close ? { connection: 'close' } : {}),
    });
    this.#declaredLength = body.length;
    this.send(body);
    return this.finish(outcome, false);
  }

  /** 413, nothing forwarded; the connection closes, since the rest of the body is never read. */
  refuseTooLarge(): Promise<void> {
    const message = `request body over ${this.ctx.opts.maxBodyBytes} bytes`;
    return this.answer(
      413,
      openAiError(message, 'invalid_request_error', 'request_too_large'),
      'rejected_too_large',
      true,
    );
  }

  /** 504 when the model server timed out, else 502: it could not be reached. */
  upstreamFailed(): Promise<void> {
    return this.timedOut
      ? this.answer(
          504,
          openAiError('the model server did not answer in time', 'upstream_error', 'upstream_timeout'),
          'upstream_timeout',
        )
      : this.answer(
          502,
          openAiError('the model server could not be reached', 'upstream_error', 'upstream_unreachable'),
          'upstream_error',
        );
  }

  /** The outcome of an exchange the upstream broke. */
  broken(): Outcome {
    return this.timedOut ? 'upstream_timeout' : 'upstream_error';
  }

  /** The cause of a failed exchange, once, for the operator (an error's code and message name no secret). */
  logBroken(err: unknown, reusedSocket: boolean, retried: boolean): void {
    if (this.#logged) return;
    this.#logged = true;
    const e = err as NodeJS.ErrnoException | undefined;
    this.ctx.log('upstream_error', {
      receiptId: this.record.id,
      requestId: this.record.requestId,
      outcome: this.broken(),
      code: e?.code ?? (err === undefined ? 'INCOMPLETE' : 'UNKNOWN'),
      error: e?.message ?? 'the answer ended before its end',
      stage: this.responded ? 'response' : 'request',
      reusedSocket,
      retried,
    });
  }
}
