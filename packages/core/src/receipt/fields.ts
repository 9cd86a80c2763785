import type { ReceiptBody } from './types.ts';

/** The request header a client puts its own nonce in; receipt v2 carries it as `client.nonce`. */
export const CLIENT_NONCE_HEADER = 'tmb-client-nonce';

/**
 * What the agent accepts as a client nonce: 16 to 128 base64url characters (no padding). The
 * client SDK sends 43, the base64url of 32 random bytes. Anything else is recorded as null.
 */
export const CLIENT_NONCE_PATTERN: RegExp = /^[A-Za-z0-9_-]{16,128}$/;

/** What served a request, as receipt v2 names it (lower-case hex SHA-256 digests, or null). */
export interface ReceiptServed {
  weights: string | null;
  engine: string | null;
}

/**
 * The client nonce a receipt carries: `client.nonce` of a v2 body (null when the request had
 * no valid `tmb-client-nonce` header), and null for a v1 body, which has no such field.
 */
export function receiptClientNonce(body: ReceiptBody): string | null {
  return body.v === 2 ? body.client.nonce : null;
}

/**
 * What served the request per a v2 body (`served`), or null for a v1 body, which does not say.
 * The digests are the agent's: at L1 they come from a measured agent, below that they are its word.
 */
export function receiptServed(body: ReceiptBody): ReceiptServed | null {
  return body.v === 2 ? { weights: body.served.weights, engine: body.served.engine } : null;
}
