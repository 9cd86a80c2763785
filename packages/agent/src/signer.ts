import { sign } from 'node:crypto';
import { encodeReceiptBody, type ReceiptBodyV2, type ReceiptServed, receiptSigningMessage } from '@tmb/core';
import type { AgentKey } from './keys.ts';
import type { ReceiptStore, StoredReceipt } from './store/store.ts';

/**
 * The fields of a receipt the proxy fills in (per exchange, `client` included); the signer adds
 * version, agent, key, seq and `served`, which is the same for every receipt of a start.
 */
export type ReceiptFields = Omit<ReceiptBodyV2, 'v' | 'type' | 'agent' | 'key' | 'seq' | 'served'>;

/** `served` of an agent that measured neither weights nor engine. */
export const NOTHING_SERVED: ReceiptServed = Object.freeze({ weights: null, engine: null });

/**
 * Numbers, encodes, signs (receipt v2) and stores receipts. Sequence numbers are handed out in call order
 * and the store commits in queue order, so the log stays dense and ordered.
 */
export class ReceiptSigner {
  readonly name: string;
  readonly key: AgentKey;
  readonly store: ReceiptStore;
  /** What every receipt of this start names as served (host/served.ts), hex digests or null. */
  readonly served: ReceiptServed;
  /** Called with each receipt once it is committed (the receipt log appends it). */
  onStored: ((row: StoredReceipt) => void) | undefined;
  #seq: number;

  /** `served` left out: the receipts name no weights and no engine (null), as for an unmeasured host. */
  constructor(
    name: string,
    key: AgentKey,
    store: ReceiptStore,
    createdUs: number,
    served: ReceiptServed = NOTHING_SERVED,
  ) {
    this.name = name;
    this.key = key;
    this.store = store;
    this.served = { weights: served.weights, engine: served.engine };
    store.addKey(key, createdUs);
    this.#seq = store.nextSeq();
  }

  /** Signs a receipt and resolves once it is durably stored. */
  async issue(fields: ReceiptFields): Promise<StoredReceipt> {
    const body: ReceiptBodyV2 = {
      v: 2,
      type: 'tmb.receipt',
      agent: this.name,
      key: this.key.keyId,
      seq: this.#seq,
      ...fields,
      served: this.served,
    };
    const bytes = encodeReceiptBody(body);
    this.#seq++; // only once the body encoded, so a refused body leaves no gap in the log
    const sig = new Uint8Array(sign(null, receiptSigningMessage(bytes), this.key.privateKey));
    const row: StoredReceipt = {
      seq: body.seq,
      id: body.id,
      requestId: body.request.id,
      keyId: body.key,
      body: bytes,
      sig,
    };
    await this.store.add(row);
    this.onStored?.(row);
    return row;
  }
}
