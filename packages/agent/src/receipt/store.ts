import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CoreError } from '@tmb/core';
import { migrate } from '@tmb/core/store';
import { AgentError } from '../errors.ts';
import { detectReceipts, RECEIPT_STEPS } from './schema.ts';
import { WalCheckpointer } from './wal.ts';

/** A receipt as stored: canonical body bytes and signature. */
export interface StoredReceipt {
  seq: number;
  id: string;
  requestId: string;
  keyId: string;
  body: Uint8Array;
  sig: Uint8Array;
}

/** A signing key as stored. */
export interface StoredKey {
  keyId: string;
  publicKey: Uint8Array;
  proof: Uint8Array;
  enrolled: boolean;
}

/**
 * Makes the receipt that takes log position `seq`: encodes and signs it. Called inside the
 * transaction that stores it, so only receipts that commit take a number. A throw refuses this
 * receipt alone (its caller gets the error) and uses no number.
 */
export type MakeReceipt = (seq: number) => StoredReceipt;

/**
 * Writes what else belongs with a batch of receipts (the receipt log's leaves: log/feeder.ts)
 * inside the transaction that stores them, before its COMMIT, and returns what to do once it is
 * committed (update in-memory state), or undefined. A throw fails the whole batch.
 */
export type InCommit = (rows: readonly StoredReceipt[]) => (() => void) | undefined;

interface Pending {
  make: MakeReceipt;
  resolve: (row: StoredReceipt) => void;
  reject: (err: unknown) => void;
}

/**
 * Durable receipt storage with group commit: `add` queues a receipt and resolves once the
 * transaction holding it is committed. Every receipt queued within one turn of the event loop
 * shares one transaction (and, with durability `full`, one fsync), which is what lets one
 * core store thousands of receipts a second (bench/receipts.bench.ts).
 *
 * Log positions (`seq`) are handed out inside that transaction, in queue order: when a commit
 * fails (SQLITE_BUSY, ENOSPC, ...) the counter goes back, every caller of the batch gets
 * AGENT_STORE_FAILED and the next commit reuses the numbers, so the log has no gap (issue 10).
 *
 * `inCommit` (set by the log feeder) appends the batch's leaves to the receipt log in that same
 * transaction: one BEGIN/COMMIT per batch for both. A failed append fails exactly the receipts of
 * its batch (none of them is stored, none answered), and a committed batch has its receipts and
 * its leaves together, so a crash can never leave one without the other (docs/proofs.md,
 * "Agent storage").
 */
export class ReceiptStore {
  readonly db: DatabaseSync;
  #queue: Pending[] = [];
  #scheduled = false;
  #insert: StatementSync;
  #closed = false;
  #checkpointer: WalCheckpointer;
  /** The next log position: MAX(seq) + 1 of the committed receipts. */
  #next = 0;
  #rejections = 0;
  /** Called inside each batch's transaction, before COMMIT (InCommit). */
  inCommit: InCommit | undefined;

  /**
   * Opens (creating if needed) `dataDir/receipts.db` and brings its schema to this build's
   * version (schema.ts RECEIPT_STEPS; a file without a version but with the tables is version 1).
   * @throws CoreError STORE_SCHEMA_TOO_NEW when a newer build wrote the file (it is left as it is);
   *   AgentError AGENT_STORE_FAILED when it cannot be opened or migrated.
   */
  constructor(dataDir: string, durability: 'normal' | 'full' = 'normal') {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(join(dataDir, 'receipts.db'));
      db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${durability === 'full' ? 'FULL' : 'NORMAL'};`);
      db.exec('PRAGMA busy_timeout=5000;');
      migrate(db, RECEIPT_STEPS, { store: 'agent-receipts', detect: detectReceipts });
      // Checkpoints happen off the event loop (wal.ts); back on here if that fails.
      db.exec('PRAGMA wal_autocheckpoint=0;');
    } catch (cause) {
      db?.close();
      if (cause instanceof CoreError && cause.code === 'STORE_SCHEMA_TOO_NEW') throw cause;
      throw new AgentError('AGENT_STORE_FAILED', `cannot open the receipt store in ${dataDir}`, { cause });
    }
    this.db = db;
    this.#insert = this.db.prepare(
      'INSERT INTO receipts (seq, id, request_id, key_id, body, sig) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#next = this.#committedNext();
    this.#checkpointer = new WalCheckpointer(join(dataDir, 'receipts.db'), 1000, () => {
      if (!this.#closed) this.db.exec('PRAGMA wal_autocheckpoint=1000;');
    });
  }

  /** The next free log index: receipts are numbered densely from 0 across restarts, in commit order. */
  nextSeq(): number {
    return this.#next;
  }

  #committedNext(): number {
    const row = this.db.prepare('SELECT COALESCE(MAX(seq) + 1, 0) AS n FROM receipts').get() as { n: number };
    return row.n;
  }

  /** Records a new signing key (before it signs anything). */
  addKey(key: Omit<StoredKey, 'enrolled'>, createdUs: number): void {
    this.db
      .prepare('INSERT OR IGNORE INTO keys (key_id, public_key, proof, created_us) VALUES (?, ?, ?, ?)')
      .run(key.keyId, key.publicKey, key.proof, createdUs);
  }

  /** Keys that have receipts but are not yet enrolled with the verifier. */
  unenrolledKeys(): StoredKey[] {
    const rows = this.db
      .prepare('SELECT key_id, public_key, proof, enrolled FROM keys WHERE enrolled = 0')
      .all();
    return rows.map((r) => ({
      keyId: r.key_id as string,
      publicKey: new Uint8Array(r.public_key as Uint8Array),
      proof: new Uint8Array(r.proof as Uint8Array),
      enrolled: false,
    }));
  }

  markEnrolled(keyId: string): void {
    this.db.prepare('UPDATE keys SET enrolled = 1 WHERE key_id = ?').run(keyId);
  }

  /**
   * Queues a receipt; `make` builds it once its log position is known, inside the commit.
   * Resolves with the stored receipt when it is committed.
   * @throws AgentError AGENT_STORE_FAILED (rejects) when the store is closed or the commit failed;
   *   whatever `make` threw when it refused the receipt.
   */
  add(make: MakeReceipt): Promise<StoredReceipt> {
    if (this.#closed) return Promise.reject(new AgentError('AGENT_STORE_FAILED', 'receipt store is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ make, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#commit());
      }
    });
  }

  #commit(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const first = this.#next;
    const done: { p: Pending; row: StoredReceipt }[] = [];
    let committed: (() => void) | undefined;
    try {
      this.db.exec('BEGIN');
      for (const p of batch) {
        let row: StoredReceipt;
        try {
          row = p.make(this.#next);
        } catch (err) {
          p.reject(err); // a refused receipt takes no number
          continue;
        }
        if (row.seq !== this.#next)
          throw new TypeError(`receipt made with seq ${row.seq}, not ${this.#next}`);
        this.#insert.run(row.seq, row.id, row.requestId, row.keyId, row.body, row.sig);
        this.#next++;
        done.push({ p, row });
      }
      if (done.length > 0) committed = this.inCommit?.(done.map((d) => d.row));
      this.db.exec('COMMIT');
    } catch (cause) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // the failed statement may already have ended the transaction
      }
      this.#next = first;
      const err = new AgentError('AGENT_STORE_FAILED', 'could not commit receipts', { cause });
      // Those `make` refused were rejected already: a second reject does nothing.
      for (const p of batch) p.reject(err);
      return;
    }
    committed?.();
    for (const { p, row } of done) p.resolve(row);
  }

  /** Up to `limit` receipts not yet pushed, oldest first. */
  unpushed(limit: number): StoredReceipt[] {
    return this.db
      .prepare(
        'SELECT seq, id, request_id, key_id, body, sig FROM receipts WHERE pushed = 0 ORDER BY seq LIMIT ?',
      )
      .all(limit)
      .map(toReceipt);
  }

  /**
   * How many times markPushed recorded a rejection since this store was opened: the log feeder
   * looks for rejected receipts only when it changed (not once per append batch).
   */
  get rejections(): number {
    return this.#rejections;
  }

  /** Marks receipts as answered for by the verifier; `codes` holds rejections by receipt id. */
  markPushed(seqs: number[], codes: Map<number, string>): void {
    if (codes.size > 0) this.#rejections++;
    const stmt = this.db.prepare('UPDATE receipts SET pushed = 1, push_code = ? WHERE seq = ?');
    this.db.exec('BEGIN');
    for (const s of seqs) stmt.run(codes.get(s) ?? null, s);
    this.db.exec('COMMIT');
  }

  /** Count of receipts not yet pushed. */
  pendingCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM receipts WHERE pushed = 0').get() as { n: number }).n;
  }

  /** A receipt by id, with its key. */
  byId(id: string): (StoredReceipt & { publicKey: Uint8Array }) | undefined {
    const r = this.db
      .prepare(
        'SELECT r.seq, r.id, r.request_id, r.key_id, r.body, r.sig, k.public_key FROM receipts r JOIN keys k USING (key_id) WHERE r.id = ?',
      )
      .get(id);
    return r === undefined
      ? undefined
      : { ...toReceipt(r), publicKey: new Uint8Array(r.public_key as Uint8Array) };
  }

  /**
   * Commits what is queued and closes the database. Resolves once the WAL checkpointer's worker
   * has closed its own connection too: until then that worker may still write the -wal and -shm
   * files, so a caller that removes the data folder right after close() would race it (the
   * ENOTEMPTY of issue 10). Safe to call twice.
   */
  close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#commit();
    this.#closed = true;
    this.db.close();
    this.#closing = this.#checkpointer.close();
    return this.#closing;
  }

  #closing: Promise<void> = Promise.resolve();
}

function toReceipt(r: Record<string, unknown>): StoredReceipt {
  return {
    seq: r.seq as number,
    id: r.id as string,
    requestId: r.request_id as string,
    keyId: r.key_id as string,
    body: new Uint8Array(r.body as Uint8Array),
    sig: new Uint8Array(r.sig as Uint8Array),
  };
}
