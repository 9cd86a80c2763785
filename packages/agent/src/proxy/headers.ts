import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { CLIENT_NONCE_HEADER, CLIENT_NONCE_PATTERN } from '@tmb/core';

// RFC 9110 section 7.6.1: Connection and the fields it names are hop-by-hop, as are these
// (Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade). A proxy must not forward them.
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/** Headers an end-to-end message keeps: everything but hop-by-hop fields. Values are passed as received. */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set<string>();
  const conn = headers.connection;
  if (conn !== undefined) for (const t of conn.split(',')) named.add(t.trim().toLowerCase());
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

// x-request-id as accepted from the router: printable ASCII, bounded, so it fits the receipt.
const REQUEST_ID = /^[\x21-\x7e]{1,256}$/;

/** The provider's request id when it is usable, else undefined (the agent then assigns one). */
export function providedRequestId(headers: IncomingHttpHeaders): string | undefined {
  const v = headers['x-request-id'];
  return typeof v === 'string' && REQUEST_ID.test(v) ? v : undefined;
}

/**
 * The client's own nonce (`tmb-client-nonce`, attacker-controlled) exactly as received when it
 * matches CLIENT_NONCE_PATTERN, else null: an absent, invalid or repeated header (Node joins
 * repeats with ", ", which the pattern refuses) is recorded as null and the request is served.
 */
export function clientNonce(headers: IncomingHttpHeaders): string | null {
  const v = headers[CLIENT_NONCE_HEADER];
  return typeof v === 'string' && CLIENT_NONCE_PATTERN.test(v) ? v : null;
}

/**
 * The headers a request is forwarded with: end to end ones as received (less `Expect`), the agent's own
 * `x-request-id` when the router gave none (`given`), and the length of the buffered body (left
 * out for an empty body that declared neither length nor chunked transfer).
 */
export function forwardHeaders(
  headers: IncomingHttpHeaders,
  given: string | undefined,
  requestId: string,
  bodyLength: number,
): OutgoingHttpHeaders {
  const out = endToEnd(headers);
  // The body is read in full before anything is forwarded: `Expect: 100-continue` was answered by
  // the agent's server and has nothing left to ask (undici refuses to send it).
  delete out.expect;
  if (given === undefined) out['x-request-id'] = requestId;
  out['content-length'] = String(bodyLength);
  if (
    bodyLength === 0 &&
    headers['content-length'] === undefined &&
    headers['transfer-encoding'] === undefined
  ) {
    delete out['content-length'];
  }
  return out;
}
