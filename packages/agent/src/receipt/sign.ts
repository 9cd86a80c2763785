import { sign } from 'node:crypto';
import type { ReceiptBodyV2, ReceiptServed } from '@tmb/core';
import { ReceiptEncoder } from './encode.ts';
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
  readonly #encoder: ReceiptEncoder;

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
    this.#encoder = new ReceiptEncoder(name, key.keyId, this.served);
    store.addKey(key, createdUs);
  }

  /**
   * Signs a receipt and resolves with it once it is durably stored.
   * @throws AgentError AGENT_STORE_FAILED (rejects) when its commit failed; CoreError from the
   *   encoder when the fields do not make a valid receipt (it then takes no log position).
   */
  async issue(fields: ReceiptFields): Promise<StoredReceipt> {
    const row = await this.store.add((seq) => {
      // The body's canonical bytes, written after the signing prefix in the same buffer (encode.ts).
      const { message, body } = this.#encoder.encode(fields, seq);
      const signed = sign(null, message, this.key.privateKey);
      const sig = new Uint8Array(signed.buffer, signed.byteOffset, signed.length);
      return { seq, id: fields.id, requestId: fields.request.id, keyId: this.key.keyId, body, sig };
    });
    this.onStored?.(row);
    return row;
  }
}
