import { sign } from 'node:crypto';
import { encodeReceiptBody, type ReceiptBody, receiptSigningMessage } from '@tmb/core';
import type { AgentKey } from './keys.ts';
import type { ReceiptStore, StoredReceipt } from './store/store.ts';

/** The fields of a receipt the proxy fills in; the signer adds version, agent, key and seq. */
export type ReceiptFields = Omit<ReceiptBody, 'v' | 'type' | 'agent' | 'key' | 'seq'>;

/**
 * Numbers, encodes, signs and stores receipts. Sequence numbers are handed out in call order
 * and the store commits in queue order, so the log stays dense and ordered.
 */
export class ReceiptSigner {
  readonly name: string;
  readonly key: AgentKey;
  readonly store: ReceiptStore;
  /** Called with each receipt once it is committed (the receipt log appends it). */
  onStored: ((row: StoredReceipt) => void) | undefined;
  #seq: number;

  constructor(name: string, key: AgentKey, store: ReceiptStore, createdUs: number) {
    this.name = name;
    this.key = key;
    this.store = store;
    store.addKey(key, createdUs);
    this.#seq = store.nextSeq();
  }

  /** Signs a receipt and resolves once it is durably stored. */
  async issue(fields: ReceiptFields): Promise<StoredReceipt> {
    const body: ReceiptBody = {
      v: 1,
      type: 'tmb.receipt',
      agent: this.name,
      key: this.key.keyId,
      seq: this.#seq,
      ...fields,
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
