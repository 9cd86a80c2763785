import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { AgentError } from '../errors.ts';
import { WalCheckpointer } from './checkpointer.ts';
import { SCHEMA } from './schema.ts';

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

interface Pending {
  row: StoredReceipt;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Durable receipt storage with group commit: `add` queues a receipt and resolves once the
 * transaction holding it is committed. Every receipt queued within one turn of the event loop
 * shares one transaction (and, with durability `full`, one fsync), which is what lets one
 * core store thousands of receipts a second (bench/receipts.bench.ts).
 */
export class ReceiptStore {
  readonly db: DatabaseSync;
  #queue: Pending[] = [];
  #scheduled = false;
  #insert: StatementSync;
  #closed = false;
  #checkpointer: WalCheckpointer;

  /** Opens (creating if needed) `dataDir/receipts.db`. */
  constructor(dataDir: string, durability: 'normal' | 'full' = 'normal') {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      this.db = new DatabaseSync(join(dataDir, 'receipts.db'));
      this.db.exec(
        `PRAGMA journal_mode=WAL; PRAGMA synchronous=${durability === 'full' ? 'FULL' : 'NORMAL'};`,
      );
      this.db.exec('PRAGMA busy_timeout=5000;');
      this.db.exec(SCHEMA);
      // Checkpoints happen off the event loop (checkpointer.ts); back on here if that fails.
      this.db.exec('PRAGMA wal_autocheckpoint=0;');
    } catch (cause) {
      throw new AgentError('AGENT_STORE_FAILED', `cannot open the receipt store in ${dataDir}`, { cause });
    }
    this.#insert = this.db.prepare(
      'INSERT INTO receipts (seq, id, request_id, key_id, body, sig) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#checkpointer = new WalCheckpointer(join(dataDir, 'receipts.db'), 1000, () => {
      if (!this.#closed) this.db.exec('PRAGMA wal_autocheckpoint=1000;');
    });
  }

  /** The next free log index: receipts are numbered densely from 0 across restarts. */
  nextSeq(): number {
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

  /** Queues a receipt; resolves when it is committed. */
  add(row: StoredReceipt): Promise<void> {
    if (this.#closed) return Promise.reject(new AgentError('AGENT_STORE_FAILED', 'receipt store is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
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
    try {
      this.db.exec('BEGIN');
      for (const { row } of batch)
        this.#insert.run(row.seq, row.id, row.requestId, row.keyId, row.body, row.sig);
      this.db.exec('COMMIT');
    } catch (cause) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // the failed statement may already have ended the transaction
      }
      const err = new AgentError('AGENT_STORE_FAILED', 'could not commit receipts', { cause });
      for (const p of batch) p.reject(err);
      return;
    }
    for (const p of batch) p.resolve();
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

  /** Marks receipts as answered for by the verifier; `codes` holds rejections by receipt id. */
  markPushed(seqs: number[], codes: Map<number, string>): void {
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
