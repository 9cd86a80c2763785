import { createHash, type Hash, hash, randomFillSync } from 'node:crypto';
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
 * SHA-256 over chunks fed in order. Most bodies come in one chunk (a 1 KiB request, a short JSON
 * answer): that one is hashed in one shot at the end, and a streaming hash object is made only
 * for a second chunk (profiled, issue 12: two hash objects per exchange were ~3% of the agent's
 * time). The digest is the same either way; chunks are never changed once passed in.
 */
class Sha256 {
  #first: Uint8Array | undefined;
  #hash: Hash | undefined;

  update(chunk: Uint8Array): void {
    if (this.#hash !== undefined) this.#hash.update(chunk);
    else if (this.#first === undefined) this.#first = chunk;
    else {
      this.#hash = createHash('sha256').update(this.#first).update(chunk);
      this.#first = undefined;
    }
  }

  /** The hex digest of everything fed so far. Call once. */
  hex(): string {
    if (this.#hash !== undefined) return this.#hash.digest('hex');
    return hash('sha256', this.#first ?? EMPTY, 'hex');
  }
}

const EMPTY = new Uint8Array(0);

// Receipt ids: 16 bytes each from a pool filled 256 ids at a time (one getrandom call instead of
// one per exchange); the bytes are the same CSPRNG's, and each is handed out once.
const ID_POOL = Buffer.alloc(16 * 256);
let idOffset = ID_POOL.length;

/** 16 fresh random bytes, lowercase hex. */
function randomId(): string {
  if (idOffset === ID_POOL.length) {
    randomFillSync(ID_POOL);
    idOffset = 0;
  }
  idOffset += 16;
  return ID_POOL.toString('hex', idOffset - 16, idOffset);
}

/**
 * The part of one exchange a receipt binds (docs/receipt.md): its ids, the SHA-256 and length of
 * the exact request bytes read and of the exact response bytes released to the client, and the
 * timing. The proxy feeds it every byte as it passes; `fields` closes it into a receipt's fields.
 */
export class ExchangeRecord {
  /** The receipt id: 16 random bytes, lowercase hex. */
  readonly id = randomId();
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
  readonly #request = new Sha256();
  readonly #response = new Sha256();

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
        sha256: this.#request.hex(),
      },
      response: {
        status: f.status,
        upstreamStatus: f.upstreamStatus,
        stream: f.stream,
        bytes: this.responseBytes,
        sha256: this.#response.hex(),
      },
      model: f.model,
      usage: f.usage,
      time: { start: this.start, firstByte: this.firstByte, end: nowUs() },
      outcome: f.outcome,
      client: { nonce: this.nonce },
    };
  }
}
