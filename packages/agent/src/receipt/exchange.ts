import { createHash, randomBytes } from 'node:crypto';
import type { Outcome } from '@tmb/core';
import { nowUs } from '../proxy/clock.ts';
import type { ReceiptFields } from './sign.ts';

/** What the proxy observed of an exchange besides its bytes, as the receipt records it. */
export interface ExchangeFacts {
  method: string;
  path: string;
  /** The status the client was sent, or null when no head was sent. */
  status: number | null;
  /** The model server's status, or null when it never answered. */
  upstreamStatus: number | null;
  stream: boolean;
  model: ReceiptFields['model'];
  usage: ReceiptFields['usage'];
  outcome: Outcome;
}

/**
 * The part of one exchange a receipt binds (docs/receipt.md): its ids, the SHA-256 and length of
 * the exact request bytes read and of the exact response bytes released to the client, and the
 * timing. The proxy feeds it every byte as it passes; `fields` closes it into a receipt's fields.
 */
export class ExchangeRecord {
  /** The receipt id: 16 random bytes, lowercase hex. */
  readonly id = randomBytes(16).toString('hex');
  /** Unix µs when the exchange began. */
  readonly start: number;
  /** The provider's request id, or the one the agent assigned. */
  readonly requestId: string;
  /** The client's `tmb-client-nonce` when valid, else null. */
  readonly nonce: string | null;
  requestBytes = 0;
  responseBytes = 0;
  /** Unix µs of the first response byte released, or null. */
  firstByte: number | null = null;
  readonly #request = createHash('sha256');
  readonly #response = createHash('sha256');

  constructor(start: number, requestId: string, nonce: string | null) {
    this.start = start;
    this.requestId = requestId;
    this.nonce = nonce;
  }

  /** Counts and hashes request bytes, in order. */
  request(chunk: Uint8Array): void {
    this.requestBytes += chunk.length;
    this.#request.update(chunk);
  }

  /** Counts and hashes response bytes released to the client, in order; the first one sets `firstByte`. */
  response(chunk: Uint8Array): void {
    if (this.firstByte === null) this.firstByte = nowUs();
    this.#response.update(chunk);
    this.responseBytes += chunk.length;
  }

  /** The receipt's fields, `time.end` = now. Call once: it finalises both digests. */
  fields(f: ExchangeFacts): ReceiptFields {
    return {
      id: this.id,
      request: {
        id: this.requestId,
        method: f.method,
        path: f.path,
        bytes: this.requestBytes,
        sha256: this.#request.digest('hex'),
      },
      response: {
        status: f.status,
        upstreamStatus: f.upstreamStatus,
        stream: f.stream,
        bytes: this.responseBytes,
        sha256: this.#response.digest('hex'),
      },
      model: f.model,
      usage: f.usage,
      time: { start: this.start, firstByte: this.firstByte, end: nowUs() },
      outcome: f.outcome,
      client: { nonce: this.nonce },
    };
  }
}
