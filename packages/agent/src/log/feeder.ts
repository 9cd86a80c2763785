import { type LogRun, leafHash } from '@tmb/core/log';
import type { ReceiptStore, StoredReceipt } from '../receipt/store.ts';
import type { ReceiptLog } from './tree.ts';

/**
 * Feeds committed receipts into the receipt log: the receipt with seq s is leaf s - base of the
 * current log run (docs/evidence.md, "Log runs and recovery"). Normally a batch's leaves are
 * written inside the very transaction that stores its receipts (`inCommit`, the store's hook:
 * one BEGIN/COMMIT for both, so a failed append fails exactly that batch's receipts and a crash
 * never keeps one without the other). When that cannot be (the log is behind the store, or a
 * rejection must first start a new run, which is not written inside a receipt batch), the batch
 * commits alone and `add` appends it after, as before: a crash in between leaves stored receipts
 * that the next start appends (`catchUp`), never a leaf without its receipt.
 *
 * A run the verifier cannot follow is ended, and a new one started past it, instead of leaving
 * the log stuck at one seq for good (issue 10): when the next receipt to append is missing from
 * the store (a gap an older agent could leave), and when the verifier rejected a receipt of the
 * current run (the pusher records its code). `breakRun` does it for the evidence answer
 * LOG_RUN_BROKEN (attester.ts).
 */
export class LogFeeder {
  readonly #log: ReceiptLog;
  readonly #store: ReceiptStore;
  readonly #onError: (err: unknown) => void;
  readonly #onRun: (run: LogRun & { reason: string }) => void;
  readonly #nowUs: () => number;
  #pending: StoredReceipt[] = [];
  /** store.rejections when the store was last searched for rejected receipts (-1: never). */
  #rejectionsSeen = -1;
  #scheduled: NodeJS.Immediate | undefined;

  constructor(
    log: ReceiptLog,
    store: ReceiptStore,
    onError: (err: unknown) => void,
    o: {
      /** Called for each run started (the agent logs it). Default: nothing. */
      onRun?: (run: LogRun & { reason: string }) => void;
      /** Clock of the runs' start times, µs. Default: Date.now() * 1000. */
      nowUs?: () => number;
    } = {},
  ) {
    this.#log = log;
    this.#store = store;
    this.#onError = onError;
    this.#onRun = o.onRun ?? (() => {});
    this.#nowUs = o.nowUs ?? (() => Date.now() * 1000);
  }

  /**
   * Appends every stored receipt the log does not hold yet (seq >= log.nextSeq), in seq order,
   * starting a new run at each gap, and a new run past a receipt of the current run the verifier
   * rejected. Call once at start, before new receipts are signed. Returns how many it appended.
   */
  catchUp(): number {
    this.#afterRejections();
    let appended = 0;
    for (;;) {
      const rows = this.#store.db
        .prepare('SELECT seq, body FROM receipts WHERE seq >= ? ORDER BY seq LIMIT 10000')
        .all(this.#log.nextSeq) as { seq: number; body: Uint8Array }[];
      if (rows.length === 0) return appended;
      const first = rows[0]!.seq;
      if (first > this.#log.nextSeq)
        this.#startRun(first, `seq ${this.#log.nextSeq} is missing from the receipt store`);
      const run = dense(rows, this.#log.nextSeq);
      this.#log.append(
        run.map((r) => new Uint8Array(r.body)),
        run[0]!.seq,
      );
      appended += run.length;
    }
  }

  /**
   * The receipt store's InCommit (wired when the log lives in the store's database: parts.ts):
   * inside the batch's transaction, writes its leaves and returns what moves the log's right edge
   * once it commits. Returns undefined (the batch commits alone; `add` appends it afterwards)
   * when the batch does not continue the log now or a rejection is still to be handled.
   * @throws AgentError AGENT_STORE_FAILED or SQLite's error: the store fails the whole batch.
   */
  inCommit(rows: readonly StoredReceipt[]): (() => void) | undefined {
    const first = rows[0]!.seq;
    if (this.#pending.length > 0 || first !== this.#log.nextSeq) return undefined;
    if (this.#store.rejections !== this.#rejectionsSeen) return undefined;
    const apply = this.#log.stageLeafHashes(
      rows.map((r) => leafHash(r.body)),
      first,
    );
    return () => void apply();
  }

  /**
   * Queues a committed receipt; the log appends it within this turn of the event loop. One the
   * log holds already (appended in its commit: inCommit) is skipped.
   */
  add(row: StoredReceipt): void {
    if (row.seq < this.#log.nextSeq) return;
    this.#pending.push(row);
    this.#scheduled ??= setImmediate(() => this.flush());
  }

  /** Appends what is queued now (after a new run, when the verifier rejected a receipt of this one). */
  flush(): void {
    clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const batch = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    try {
      this.#afterRejections();
      const next = this.#log.nextSeq;
      const fresh = batch.filter((r) => r.seq >= next);
      if (fresh.length === 0) return;
      // Stored receipts between nextSeq and the batch (committed by a store transaction whose
      // log append has not run, or past a gap) come first, so the leaves stay dense.
      if (fresh[0]!.seq > next) {
        this.catchUp();
        return;
      }
      const run = dense(fresh, next);
      this.#log.append(
        run.map((r) => r.body),
        next,
      );
      if (run.length < fresh.length) this.catchUp();
    } catch (err) {
      this.#onError(err);
    }
  }

  /**
   * Ends the current run and starts the next at the next seq not yet in any run (after what is
   * queued), because the verifier cannot follow this one (evidence answer LOG_RUN_BROKEN).
   * Does nothing when the current run holds no receipt yet: a new run would start at the same
   * seq and change nothing. Returns the run started, or null.
   */
  breakRun(reason: string): LogRun | null {
    this.flush();
    if (this.#log.size === 0) return null;
    return this.#startRun(this.#log.nextSeq, reason);
  }

  /**
   * A rejected receipt of the current run: a new run past it and past everything appended.
   * Searched once at start and after each push that recorded a rejection (store.rejections), not
   * per append batch: the query was ~2% of the agent's time under load (profiled, issue 12).
   */
  #afterRejections(): void {
    if (this.#store.rejections === this.#rejectionsSeen) return;
    this.#rejectionsSeen = this.#store.rejections;
    const { base } = this.#log.run;
    const r = this.#store.db
      .prepare(
        'SELECT seq, push_code FROM receipts WHERE push_code IS NOT NULL AND seq >= ? ORDER BY seq DESC LIMIT 1',
      )
      .get(base) as { seq: number; push_code: string } | undefined;
    if (r === undefined) return;
    this.#startRun(
      Math.max(this.#log.nextSeq, r.seq + 1),
      `receipt seq ${r.seq} rejected by the verifier: ${r.push_code}`,
    );
  }

  #startRun(base: number, reason: string): LogRun {
    const run = this.#log.startRun(base, reason, this.#nowUs());
    this.#onRun({ ...run, reason });
    return run;
  }
}

/** The rows from seq `start` on that continue it without a gap. */
function dense<T extends { seq: number }>(rows: readonly T[], start: number): T[] {
  const from = rows.findIndex((r) => r.seq === start);
  if (from < 0) return [];
  let end = from + 1;
  while (end < rows.length && rows[end]!.seq === rows[end - 1]!.seq + 1) end++;
  return rows.slice(from, end);
}
