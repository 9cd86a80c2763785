import { CLIENT_NONCE_HEADER, isReceiptId, toBase64Url } from '@tmb/core';
import type { BoundResult } from './bound.ts';
import { type CapturedBody, captureBody } from './capture.ts';
import { verifyResult } from './ear.ts';
import { ClientError } from './errors.ts';
import { appraiseExchange } from './result.ts';
import type { ClientCheck, ClientResult, VerifiedFetchOptions } from './types.ts';
import { fetchReceipt, type VerifierAnswer } from './verifier.ts';

/** A verifying fetch and the way to get each response's result. */
export interface VerifiedFetch {
  /** Drop-in fetch: pass it to `new OpenAI({ fetch })`. */
  fetch: typeof fetch;
  /**
   * The result for a response this fetch returned; settles once its body has been read to the
   * end (or cancelled) by whoever reads it. Never rejects for bad evidence.
   * @throws ClientError RESPONSE_NOT_TRACKED for a response this fetch did not return.
   */
  verify(response: Response): Promise<ClientResult>;
}

// Statuses whose responses carry no body (Fetch standard, "null body status").
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Wraps fetch so that each exchange is checked against its receipt: it sends a fresh
 * `tmb-client-nonce` (32 random bytes, base64url) with every request, keeps the exact request
 * bytes it sends and the exact response bytes the reader receives, and once the body ends asks
 * the configured verifier for the receipt named in `tmb-receipt-id`, checks the verifier's
 * signed EAR result under the pinned `verifierKey`, and checks signature, id, both hashes and
 * the nonce itself. Without both `verifierUrl` and `verifierKey` every result is level `none`.
 *
 * It asks for `accept-encoding: identity` unless the caller set an encoding, because the agent
 * hashes the bytes it sends and fetch would hand the reader decompressed ones.
 *
 * @throws ClientError CLIENT_CONFIG_INVALID for a bad verifierUrl.
 * @example
 *   const tmb = createVerifiedFetch({ verifierUrl: 'https://verifier.example', verifierKey });
 *   const openai = new OpenAI({ baseURL, apiKey, fetch: tmb.fetch });
 *   const { data, response } = await openai.chat.completions.create({ ... }).withResponse();
 *   const result = await tmb.verify(response);
 */
export function createVerifiedFetch(options: VerifiedFetchOptions = {}): VerifiedFetch {
  const ctx: Context = {
    options,
    baseFetch: options.fetch ?? globalThis.fetch,
    verifierBase: verifierBaseOf(options.verifierUrl),
    waitMs: options.waitMs ?? 10_000,
    timeoutMs: options.timeoutMs ?? 10_000,
  };
  const results = new WeakMap<Response, Promise<ClientResult>>();
  const verifiedFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const { res, request, nonce } = await send(ctx.baseFetch, input, init);
    if (res.body === null || NULL_BODY.has(res.status)) {
      results.set(
        res,
        settle(ctx, res, request, nonce, Promise.resolve({ bytes: new Uint8Array(0), end: 'complete' })),
      );
      return res;
    }
    const { stream, done } = captureBody(res.body);
    const wrapped = new Response(stream, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
    Object.defineProperty(wrapped, 'url', { value: res.url });
    Object.defineProperty(wrapped, 'redirected', { value: res.redirected });
    results.set(wrapped, settle(ctx, wrapped, request, nonce, done));
    return wrapped;
  };
  return {
    fetch: verifiedFetch as typeof fetch,
    verify(response: Response): Promise<ClientResult> {
      const r = results.get(response);
      if (r === undefined) {
        throw new ClientError(
          'RESPONSE_NOT_TRACKED',
          'this response was not returned by this verified fetch',
        );
      }
      return r;
    },
  };
}

/** What every exchange of one verified fetch shares. */
interface Context {
  options: VerifiedFetchOptions;
  baseFetch: typeof fetch;
  /** The configured verifier's URL without trailing slashes; undefined: none configured. */
  verifierBase: string | undefined;
  waitMs: number;
  timeoutMs: number;
}

/** The verifier URL, checked (http or https), without trailing slashes. */
function verifierBaseOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new ClientError('CLIENT_CONFIG_INVALID', `verifierUrl ${JSON.stringify(url)} is not a URL`, {
      cause,
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ClientError('CLIENT_CONFIG_INVALID', `verifierUrl must be http or https, found ${u.protocol}`);
  }
  return u.href.replace(/\/+$/, '');
}

/** Sends the request with our own nonce; keeps the exact request bytes that went on the wire. */
async function send(
  baseFetch: typeof fetch,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<{ res: Response; request: Uint8Array; nonce: string }> {
  const req = new Request(input, init);
  // The exact bytes that go on the wire: read once here, then sent as they are.
  const request = req.body === null ? new Uint8Array(0) : new Uint8Array(await req.arrayBuffer());
  const headers = new Headers(req.headers);
  if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'identity');
  // Our own nonce, always (a caller's value is replaced): the receipt must carry this one.
  const nonce = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  headers.set(CLIENT_NONCE_HEADER, nonce);
  const res = await baseFetch(req.url, {
    method: req.method,
    headers,
    body: req.body === null ? null : request,
    signal: req.signal,
    redirect: req.redirect,
  });
  return { res, request, nonce };
}

/** What the verifier said of one receipt, and whether its signed result checks out. */
interface Asked {
  answer: VerifierAnswer | null;
  resultCheck: ClientCheck | undefined;
  bound: BoundResult | null;
}

/** The result of one exchange, once its response body has ended. */
async function settle(
  ctx: Context,
  res: Response,
  request: Uint8Array,
  nonce: string,
  body: Promise<CapturedBody>,
): Promise<ClientResult> {
  const response = await body;
  const receiptId = res.headers.get('tmb-receipt-id');
  const validId = isReceiptId(receiptId) ? receiptId : null;
  const checks: ClientCheck[] = [];
  let asked: Asked = { answer: null, resultCheck: undefined, bound: null };
  if (validId === null) {
    checks.push({
      name: 'client.receipt_header',
      status: 'fail',
      code: 'RECEIPT_HEADER_MISSING',
      detail:
        receiptId === null
          ? 'the response has no tmb-receipt-id header: it did not pass through an agent'
          : 'the tmb-receipt-id header is not 32 lower-case hex digits',
    });
  } else {
    checks.push({ name: 'client.receipt_header', status: 'pass', detail: `tmb-receipt-id ${validId}` });
    asked = await askVerifier(ctx, validId, checks);
  }
  const result = appraiseExchange({
    receiptId: validId,
    requestId: res.headers.get('x-request-id'),
    request,
    response,
    nonce,
    checks,
    ...asked,
  });
  try {
    ctx.options.onResult?.(result, res);
  } catch {
    // A failing callback must not turn into an unhandled rejection in the caller's process.
  }
  return result;
}

/** Asks the configured verifier for the receipt (again while a quote is due, up to
 * waitForQuoteMs) and checks its signed result; pushes the source and fetch checks. */
async function askVerifier(ctx: Context, id: string, checks: ClientCheck[]): Promise<Asked> {
  const none: Asked = { answer: null, resultCheck: undefined, bound: null };
  // The provider's tmb-receipt-url is never used: a verifier the provider picks can say anything.
  if (ctx.verifierBase === undefined) {
    checks.push({
      name: 'verifier.source',
      status: 'fail',
      code: 'VERIFIER_NOT_CONFIGURED',
      detail:
        "no verifierUrl configured: no verifier was asked (the provider's tmb-receipt-url is never used), so nothing about this answer is proven",
    });
    return none;
  }
  const source = { url: `${ctx.verifierBase}/v1/receipts/${id}`, chosenBy: 'client' as const };
  checks.push({
    name: 'verifier.source',
    status: 'pass',
    detail: `the configured verifier ${new URL(source.url).origin}`,
  });
  let fetched = await fetchReceipt(ctx.baseFetch, source, ctx.waitMs, ctx.timeoutMs);
  // Coverage by a quoted checkpoint comes a moment after the receipt: ask again until it does.
  const quoteDeadline = Date.now() + (ctx.options.waitForQuoteMs ?? 0);
  while (fetched.answer !== null && pendingQuote(fetched.answer) && Date.now() < quoteDeadline) {
    await new Promise((r) => setTimeout(r, 200));
    const again = await fetchReceipt(ctx.baseFetch, source, 0, ctx.timeoutMs);
    if (again.answer === null) break;
    fetched = again;
  }
  checks.push(fetched.check);
  const answer = fetched.answer;
  if (answer === null || ctx.options.verifierKey === undefined) return { ...none, answer };
  const { check, bound } = await verifyResult(answer.result, ctx.options.verifierKey, id);
  return { answer, resultCheck: check, bound };
}

/**
 * Whether the verifier says a quote has not covered the receipt yet. Read from the unsigned
 * verdict: it only decides whether to ask again, never what the result says.
 */
function pendingQuote(a: VerifierAnswer): boolean {
  return a.verdict.checks.some((c) => c.name === 'receipt.included' && c.status === 'asserted');
}
