import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type {
  ClientRequest,
  Agent as HttpAgent,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Outcome } from '@tmb/core';
import { AgentError } from '../errors.ts';
import type { ResolvedAgentOptions } from '../options.ts';
import type { ReceiptSigner } from '../signer.ts';
import { nowUs } from './clock.ts';
import { clientNonce, endToEnd, providedRequestId } from './headers.ts';
import { NO_USAGE, ResponseInspector, requestedModel } from './inspect.ts';

/** What every exchange shares: options, the signer, the upstream connection pool. */
export interface ProxyContext {
  opts: ResolvedAgentOptions;
  signer: Pick<ReceiptSigner, 'issue'>;
  upstream: URL;
  upstreamAgent: HttpAgent;
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
  const start = nowUs();
  const id = randomBytes(16).toString('hex');
  const given = providedRequestId(req.headers);
  const requestId = given ?? randomUUID();
  // Read before anything is forwarded; the header itself is forwarded untouched with the rest.
  const nonce = clientNonce(req.headers);
  const reqHash = createHash('sha256');
  const resHash = createHash('sha256');
  let reqBytes = 0;
  let resBytes = 0;
  let firstByte: number | null = null;
  let upstreamStatus: number | null = null;
  let inspector = new ResponseInspector(undefined, undefined);
  let finished = false;
  let requestBody: Buffer = Buffer.alloc(0);

  const tmbHeaders = (): OutgoingHttpHeaders => {
    const h: OutgoingHttpHeaders = { 'tmb-receipt-id': id, 'x-request-id': requestId };
    const url = ctx.receiptUrl(id);
    if (url !== undefined) h['tmb-receipt-url'] = url;
    return h;
  };

  // When the client can tell the body is complete from its length (Content-Length), its last
  // bytes are held back until the receipt is committed: no client holds a whole answer whose
  // receipt could still be lost. Chunked and SSE bodies end with res.end(), which comes after.
  let held: Buffer | undefined;
  let declaredLength = Number.POSITIVE_INFINITY;
  const send = (chunk: Buffer): boolean => {
    if (firstByte === null) firstByte = nowUs();
    resHash.update(chunk);
    resBytes += chunk.length;
    if (resBytes >= declaredLength) {
      held = held === undefined ? chunk : Buffer.concat([held, chunk]);
      return true;
    }
    return res.write(chunk);
  };

  /** Signs and stores the receipt (once), then ends or cuts the response. */
  const finish = async (outcome: Outcome, cut = outcome !== 'complete'): Promise<void> => {
    if (finished) return;
    finished = true;
    inspector.finish();
    try {
      await ctx.signer.issue({
        id,
        request: {
          id: requestId,
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          bytes: reqBytes,
          sha256: reqHash.digest('hex'),
        },
        response: {
          status: res.headersSent ? res.statusCode : null,
          upstreamStatus,
          stream: inspector.stream,
          bytes: resBytes,
          sha256: resHash.digest('hex'),
        },
        model: {
          requested: requestedModel(requestBody, req.headers['content-type']),
          reported: inspector.model,
        },
        usage: inspector.usage ?? NO_USAGE,
        time: { start, firstByte, end: nowUs() },
        outcome,
        client: { nonce },
      });
      ctx.onReceipt(outcome);
    } catch (err) {
      // No receipt, no complete answer: the client must never hold a response whose receipt is lost.
      ctx.log('receipt_failed', {
        receiptId: id,
        code: (err as AgentError).code ?? 'UNKNOWN',
        error: String(err),
      });
      res.destroy();
      return;
    }
    if (cut)
      res.destroy(); // a cut stream stays visibly cut for the client
    else res.end(held);
  };

  /** An answer the agent makes itself (413, 502, 504). */
  const answer = (status: number, body: Buffer, outcome: Outcome, close = false): Promise<void> => {
    if (res.headersSent) return finish(outcome);
    res.writeHead(status, {
      ...tmbHeaders(),
      'content-type': 'application/json',
      'content-length': body.length,
      ...(close ? { connection: 'close' } : {}),
    });
    declaredLength = body.length;
    send(body);
    return finish(outcome, false);
  };

  // 413, nothing forwarded; the connection closes, since the rest of the body is never read.
  const refuseTooLarge = () =>
    answer(
      413,
      openAiError(
        `request body over ${ctx.opts.maxBodyBytes} bytes`,
        'invalid_request_error',
        'request_too_large',
      ),
      'rejected_too_large',
      true,
    );

  // --- 1. the request body, bounded: nothing is forwarded before all of it is here and under the limit.
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > ctx.opts.maxBodyBytes) {
    await refuseTooLarge();
    return;
  }
  // The receipt of a refused body covers the bytes read before the limit was crossed.
  const parts: Buffer[] = [];
  let tooLarge = false;
  let clientGone = false;
  // Plain events rather than an async iterator: this runs once per request (profiled: the iterator's
  // machinery cost more than the hashing).
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (reqBytes + chunk.length > ctx.opts.maxBodyBytes) {
        tooLarge = true;
        req.off('data', onData);
        req.pause();
        resolve();
        return;
      }
      reqBytes += chunk.length;
      reqHash.update(chunk);
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', resolve);
    req.once('error', () => {
      clientGone = true;
      resolve();
    });
    req.once('close', () => {
      if (!req.complete) clientGone = true;
      resolve();
    });
  });
  if (tooLarge) {
    await refuseTooLarge();
    return;
  }
  requestBody = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (clientGone || !req.complete) {
    await finish('client_aborted');
    return;
  }

  // --- 2. forward unchanged (less hop-by-hop headers), relay the answer as it comes.
  const headers = endToEnd(req.headers);
  if (given === undefined) headers['x-request-id'] = requestId;
  headers['content-length'] = String(requestBody.length);
  if (
    requestBody.length === 0 &&
    req.headers['content-length'] === undefined &&
    req.headers['transfer-encoding'] === undefined
  ) {
    delete headers['content-length'];
  }
  const base = ctx.upstream;
  let timedOut = false;
  let responded = false;
  let up: ClientRequest | undefined;
  const broken = (): Outcome => (timedOut ? 'upstream_timeout' : 'upstream_error');
  // The cause of a failed exchange, once, for the operator (an error's code and message name no secret).
  let logged = false;
  const logBroken = (err: unknown, req: ClientRequest | undefined, retried: boolean) => {
    if (logged) return;
    logged = true;
    const e = err as NodeJS.ErrnoException | undefined;
    ctx.log('upstream_error', {
      receiptId: id,
      requestId,
      outcome: broken(),
      code: e?.code ?? (err === undefined ? 'INCOMPLETE' : 'UNKNOWN'),
      error: e?.message ?? 'the answer ended before its end',
      stage: responded ? 'response' : 'request',
      reusedSocket: req?.reusedSocket ?? false,
      retried,
    });
  };
  res.on('close', () => {
    if (!res.writableEnded && !finished) {
      up?.destroy();
      void finish('client_aborted');
    }
  });

  /** Sends the (fully buffered) request; `fresh`: on a new connection outside the keep-alive pool. */
  const forward = (fresh: boolean): void => {
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
    up = ureq;
    let readBefore = 0;
    ureq.once('socket', (socket) => {
      readBefore = socket.bytesRead;
    });
    ureq.on('timeout', () => {
      timedOut = true;
      ureq.destroy(new AgentError('UPSTREAM_TIMEOUT', 'upstream idle past the timeout'));
    });
    ureq.on('error', (err: NodeJS.ErrnoException) => {
      if (finished || up !== ureq) return;
      if (!fresh && staleReuse(ureq, err, readBefore) && !timedOut && !responded && !res.headersSent) {
        // A kept-alive connection the model server had already closed: nothing reached it, nothing
        // was answered, and the body is all here, so it is sent once more on a new connection.
        ctx.log('upstream_retried', { receiptId: id, requestId, code: err.code, error: err.message });
        forward(true);
        return;
      }
      logBroken(err, ureq, fresh);
      if (res.headersSent) {
        void finish(broken());
        return;
      }
      void (timedOut
        ? answer(
            504,
            openAiError('the model server did not answer in time', 'upstream_error', 'upstream_timeout'),
            'upstream_timeout',
          )
        : answer(
            502,
            openAiError('the model server could not be reached', 'upstream_error', 'upstream_unreachable'),
            'upstream_error',
          ));
    });
    ureq.on('response', (ures) => {
      responded = true;
      upstreamStatus = ures.statusCode ?? null;
      inspector = new ResponseInspector(ures.headers['content-type'], ures.headers['content-encoding']);
      res.writeHead(ures.statusCode ?? 502, { ...endToEnd(ures.headers), ...tmbHeaders() });
      const length = Number(ures.headers['content-length']);
      if (ures.headers['content-length'] !== undefined && Number.isSafeInteger(length))
        declaredLength = length;
      if (inspector.stream) res.flushHeaders();
      ures.on('data', (chunk: Buffer) => {
        if (finished) return;
        inspector.push(chunk);
        if (!send(chunk)) {
          ures.pause();
          res.once('drain', () => ures.resume());
        }
      });
      ures.on('end', () => void finish('complete'));
      ures.on('error', (err) => {
        if (!finished) logBroken(err, ureq, fresh);
        void finish(broken());
      });
      ures.on('close', () => {
        if (ures.complete || finished) return;
        logBroken(undefined, ureq, fresh);
        void finish(broken());
      });
    });
    ureq.end(requestBody);
  };
  forward(false);
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
