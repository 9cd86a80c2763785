/**
 * How an exchange ended, as the agent saw it.
 * - complete: the upstream answered (any status) and every byte reached the client.
 * - upstream_error: the upstream connection failed or broke mid-answer; the client got a 502 or a cut stream.
 * - upstream_timeout: the upstream did not answer in time; the client got a 504 or a cut stream.
 * - client_aborted: the client went away before the end; the upstream request was aborted.
 * - rejected_too_large: the request body was over the limit; 413, nothing forwarded.
 */
export const OUTCOMES = [
  'complete',
  'upstream_error',
  'upstream_timeout',
  'client_aborted',
  'rejected_too_large',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * Version 1 of the receipt body. Still read (decodeReceiptBody), no longer signed by the agent.
 * Changing any field or its meaning bumps `v` (docs/receipt.md, "Changing the format").
 */
export interface ReceiptBodyV1 {
  v: 1;
  type: 'tmb.receipt';
  /** 128-bit random receipt id, 32 lower-case hex digits. */
  id: string;
  /** The agent's name, as enrolled with the verifier. */
  agent: string;
  /** SHA-256 of the raw 32-byte Ed25519 public key that signs this receipt, hex. */
  key: string;
  /** 0-based position of this receipt in the agent's receipt log. */
  seq: number;
  request: {
    /** The provider's request id (x-request-id), or one the agent assigned. */
    id: string;
    method: string;
    /** Path and query exactly as received. */
    path: string;
    bytes: number;
    /** SHA-256 of the exact request body bytes, hex. */
    sha256: string;
  };
  response: {
    /** Status sent to the client (the upstream's, or the agent's own 4xx/5xx). */
    status: number | null;
    /** Status the upstream answered with, null when it never answered. */
    upstreamStatus: number | null;
    /** Whether the body was relayed as a stream (text/event-stream). */
    stream: boolean;
    /** Bytes of the body sent to the client (for a cut stream: what was sent). */
    bytes: number;
    /** SHA-256 of exactly those bytes, hex. */
    sha256: string;
  };
  model: {
    /** `model` in the request body, when it is JSON and names one. */
    requested: string | null;
    /** `model` the upstream reported in its answer. */
    reported: string | null;
  };
  usage: {
    prompt: number | null;
    completion: number | null;
    total: number | null;
  };
  /** Unix time in microseconds. */
  time: {
    start: number;
    firstByte: number | null;
    end: number;
  };
  outcome: Outcome;
}

/**
 * Version 2 of the receipt body: every v1 field, plus what the client contributed and what
 * served the request. Changing any field or its meaning bumps `v` (docs/receipt.md).
 */
export interface ReceiptBodyV2 extends Omit<ReceiptBodyV1, 'v'> {
  v: 2;
  client: {
    /** The `tmb-client-nonce` request header exactly as received when it matches
     * CLIENT_NONCE_PATTERN; null when absent or invalid (the request is served anyway). */
    nonce: string | null;
  };
  served: {
    /** SHA-256 (lower-case hex) the registry names the weights by: the file's digest, or a
     * directory's manifest digest, as the agent measured its first weights path at start; null
     * when none was measured. */
    weights: string | null;
    /** SHA-256 (lower-case hex) of the engine executable the agent measured at start; null when none was. */
    engine: string | null;
  };
}

/** A receipt body of any version this build reads; the agent signs v2 only. */
export type ReceiptBody = ReceiptBodyV1 | ReceiptBodyV2;

/** A receipt on the wire: the canonical body bytes and the agent key's signature over them. */
export interface SignedReceipt {
  /** base64url of the canonical JSON body bytes. */
  body: string;
  /** base64url of the 64-byte Ed25519 signature of receiptSigningMessage(body bytes). */
  sig: string;
}
