import type { ReceiptLog } from '../log/store.ts';
import type { ReceiptStore, StoredReceipt } from '../store/store.ts';

/**
 * Feeds committed receipts into the receipt log, leaf index = the receipt's `seq`
 * (docs/evidence.md). The store commits first, the log appends after: a crash in between
 * leaves stored receipts that the next start appends (`catchUp`), never a leaf without its
 * receipt. Receipts committed within one turn of the event loop share one log transaction.
 */
export class LogFeeder {
  readonly #log: ReceiptLog;
  readonly #store: ReceiptStore;
  readonly #onError: (err: unknown) => void;
  #pending: StoredReceipt[] = [];
  #scheduled = false;

  constructor(log: ReceiptLog, store: ReceiptStore, onError: (err: unknown) => void) {
    this.#log = log;
    this.#store = store;
    this.#onError = onError;
  }

  /**
   * Appends every stored receipt the log does not hold yet (seq >= log.size), in seq order.
   * Call once at start, before new receipts are signed.
   */
  catchUp(): number {
    const rows = this.#store.db
      .prepare('SELECT seq, body FROM receipts WHERE seq >= ? ORDER BY seq')
      .all(this.#log.size) as { seq: number; body: Uint8Array }[];
    const run = dense(rows, this.#log.size);
    if (run.length > 0)
      this.#log.append(
        run.map((r) => new Uint8Array(r.body)),
        run[0]!.seq,
      );
    return run.length;
  }

  /** Queues a committed receipt; the log appends it within this turn of the event loop. */
  add(row: StoredReceipt): void {
    this.#pending.push(row);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Appends what is queued now. */
  flush(): void {
    this.#scheduled = false;
    const batch = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    if (batch.length === 0) return;
    try {
      // Stored receipts between log.size and the batch (committed by a store transaction whose
      // log append has not run) come first, so the leaves stay dense.
      const first = batch[0]!.seq;
      if (first > this.#log.size) this.catchUp();
      const fresh = dense(batch, this.#log.size);
      if (fresh.length > 0)
        this.#log.append(
          fresh.map((r) => r.body),
          fresh[0]!.seq,
        );
    } catch (err) {
      this.#onError(err);
    }
  }
}

/** The rows from seq `start` on that continue it without a gap (a seq burnt by a failed commit stops the run). */
function dense<T extends { seq: number }>(rows: readonly T[], start: number): T[] {
  const from = rows.findIndex((r) => r.seq === start);
  if (from < 0) return [];
  let end = from + 1;
  while (end < rows.length && rows[end]!.seq === rows[end - 1]!.seq + 1) end++;
  return rows.slice(from, end);
}
