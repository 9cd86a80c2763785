import { sign } from 'node:crypto';
import { encodeReceiptBody, type ReceiptBodyV2, type ReceiptServed, receiptSigningMessage } from '@tmb/core';
import type { AgentKey } from './key.ts';
import type { ReceiptStore, StoredReceipt } from './store.ts';

/**
 * The fields of a receipt the proxy fills in (per exchange, `client` included); the signer adds
 * version, agent, key, seq and `served`, which is the same for every receipt of a start.
 */
export type ReceiptFields = Omit<ReceiptBodyV2, 'v' | 'type' | 'agent' | 'key' | 'seq' | 'served'>;

/** `served` of an agent that measured neither weights nor engine. */
export const NOTHING_SERVED: ReceiptServed = Object.freeze({ weights: null, engine: null });

/**
 * Encodes, signs (receipt v2) and stores receipts. The store numbers them inside its commit
 * (ReceiptStore.add): a receipt takes a log position only if the transaction holding it commits,
 * so a failed commit leaves no gap (issue 10); signing (~30 µs) runs inside that batch.
 */
export class ReceiptSigner {
  readonly name: string;
  readonly key: AgentKey;
  readonly store: ReceiptStore;
  /** What every receipt of this start names as served (served.ts), hex digests or null. */
  readonly served: ReceiptServed;
  /** Called with each receipt once it is committed (the receipt log appends it). */
  onStored: ((row: StoredReceipt) => void) | undefined;

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
  }

  /**
   * Signs a receipt and resolves with it once it is durably stored.
   * @throws AgentError AGENT_STORE_FAILED (rejects) when its commit failed; CoreError from the
   *   encoder when the fields do not make a valid receipt (it then takes no log position).
   */
  async issue(fields: ReceiptFields): Promise<StoredReceipt> {
    const row = await this.store.add((seq) => {
      const body: ReceiptBodyV2 = {
        v: 2,
        type: 'tmb.receipt',
        agent: this.name,
        key: this.key.keyId,
        seq,
        ...fields,
        served: this.served,
      };
      const bytes = encodeReceiptBody(body);
      const sig = new Uint8Array(sign(null, receiptSigningMessage(bytes), this.key.privateKey));
      return { seq, id: body.id, requestId: body.request.id, keyId: body.key, body: bytes, sig };
    });
    this.onStored?.(row);
    return row;
  }
}
