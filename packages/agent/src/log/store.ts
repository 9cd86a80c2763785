import { type FileHandle, open } from 'node:fs/promises';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { bytesEqual, CoreError } from '@tmb/core';
import {
  type ConsistencyProof,
  consistencyProof,
  EMPTY_ROOT,
  type InclusionProof,
  inclusionProof,
  type LogVerification,
  leafHash,
  type NoteSigner,
  nodeHash,
  rootAt,
  signCheckpoint,
  type TreeNodes,
  verifyConsistency,
} from '@tmb/core/log';
import { AgentError } from '../errors.ts';
import { LOG_FORMAT, LOG_SCHEMA } from './schema.ts';

/** A checkpoint the log signed and stored. */
export interface StoredCheckpoint {
  /** Signing order, from 1. */
  seq: number;
  size: number;
  root: Uint8Array;
  /** The signed note, exactly as served. */
  note: string;
}

// Nodes at level >= 6 (at most n/64 of them, 1.5 MB for 1,000,000 leaves) stay in memory once
// read: most of a proof's siblings in a large tree are there, so a proof costs ~6 SQLite reads.
const CACHE_LEVEL = 6;

function toCheckpoint(row: Record<string, unknown>): StoredCheckpoint {
  return {
    seq: row.seq as number,
    size: row.size as number,
    root: row.root as Uint8Array,
    note: row.note as string,
  };
}

/**
 * The agent's append-only Merkle log of receipts (RFC 6962 hashing), persisted in SQLite
 * (layout: schema.ts). Synchronous appends, each batch one transaction; checkpoints signed only
 * over committed leaves and made durable (fsync) before they are returned, so after a crash,
 * `kill -9` included, the log is consistent with every checkpoint it ever returned.
 *
 * @example
 *   const log = ReceiptLog.open('/var/lib/tmb/log.db');
 *   const [index] = log.append([receiptBytes]);
 *   const cp = await log.checkpoint('agent-7', checkpointSigner('agent-7', key));
 *   const proof = log.inclusionProof(index, cp.size);
 */
export class ReceiptLog implements TreeNodes {
  readonly #db: DatabaseSync;
  readonly #owned: boolean;
  readonly #getNode: StatementSync;
  readonly #putNode: StatementSync;
  #size = 0;
  /** frontier[l]: hash of the complete subtree at level l on the right edge, valid when bit l of size is set. */
  #frontier: Uint8Array[] = [];
  #root: Uint8Array | null = null;
  /** Committed nodes of level >= CACHE_LEVEL, read once: nodes never change once committed. */
  readonly #cache = new Map<number, Uint8Array>();
  #signing: Promise<unknown> = Promise.resolve();

  private constructor(db: DatabaseSync, owned: boolean) {
    this.#db = db;
    this.#owned = owned;
    db.exec(LOG_SCHEMA);
    const format = db.prepare('SELECT value FROM log_meta WHERE key = ?').get('format') as
      | { value: number }
      | undefined;
    if (format === undefined)
      db.prepare('INSERT INTO log_meta (key, value) VALUES (?, ?)').run('format', LOG_FORMAT);
    else if (format.value !== LOG_FORMAT)
      throw new AgentError(
        'AGENT_STORE_FAILED',
        `receipt log format ${format.value}, this build reads ${LOG_FORMAT}`,
      );
    this.#getNode = db.prepare('SELECT hash FROM log_nodes WHERE level = ? AND idx = ?');
    this.#putNode = db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)');
    this.#load();
  }

  /**
   * Opens (creating if needed) the log in a SQLite file in WAL mode, or in a database the
   * caller owns (for instance the receipt store's, so one file holds both; the log commits its own
   * transactions, so do not call append() inside one of yours).
   * Checks that the tree still matches the latest checkpoint it signed.
   * @throws CoreError CHECKPOINT_ROOT_MISMATCH when it does not; AgentError AGENT_STORE_FAILED
   *   when the file is not a log this build reads or a needed node is missing.
   */
  static open(target: string | DatabaseSync): ReceiptLog {
    if (typeof target !== 'string') return new ReceiptLog(target, false);
    const db = new DatabaseSync(target);
    try {
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
      return new ReceiptLog(db, true);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  #load(): void {
    const row = this.#db.prepare('SELECT MAX(idx) AS last FROM log_nodes WHERE level = 0').get() as {
      last: number | null;
    };
    this.#size = row.last === null ? 0 : row.last + 1;
    // The right edge: one complete subtree per set bit of size, largest (leftmost) first.
    this.#frontier = [];
    let start = 0;
    for (let level = 52; level >= 0; level--) {
      const width = 2 ** level;
      if (Math.floor(this.#size / width) % 2 === 1) {
        this.#frontier[level] = this.node(level, start / width);
        start += width;
      }
    }
    this.#root = null;
    const latest = this.latestCheckpoint();
    if (latest !== null) {
      const r = this.checkCheckpoint(latest);
      if (!r.ok) throw new CoreError('CHECKPOINT_ROOT_MISMATCH', r.detail);
    }
  }

  /** Number of leaves committed. */
  get size(): number {
    return this.#size;
  }

  /** Hash of the complete subtree (level, index); TreeNodes for core's proof generation. */
  node(level: number, index: number): Uint8Array {
    const cached = level >= CACHE_LEVEL ? this.#cache.get(level * 2 ** 47 + index) : undefined;
    if (cached !== undefined) return cached;
    const row = this.#getNode.get(level, index) as { hash: Uint8Array } | undefined;
    if (row !== undefined && level >= CACHE_LEVEL) this.#cache.set(level * 2 ** 47 + index, row.hash);
    if (row === undefined) {
      if (index * 2 ** level + 2 ** level > this.#size)
        throw new CoreError(
          'PROOF_RANGE_INVALID',
          `subtree (${level}, ${index}) is past tree size ${this.#size}`,
        );
      throw new AgentError('AGENT_STORE_FAILED', `receipt log is missing node (${level}, ${index})`);
    }
    return row.hash;
  }

  /** Leaf hash at `index`. @throws CoreError PROOF_RANGE_INVALID past the end. */
  leafHash(index: number): Uint8Array {
    return this.node(0, index);
  }

  /** Root hash of the whole tree (from the in-memory right edge: no reads). */
  root(): Uint8Array {
    if (this.#root !== null) return this.#root;
    let r: Uint8Array | null = null;
    for (let level = 0; level < this.#frontier.length; level++) {
      if (Math.floor(this.#size / 2 ** level) % 2 !== 1) continue;
      const h = this.#frontier[level]!;
      r = r === null ? h : nodeHash(h, r);
    }
    this.#root = r ?? EMPTY_ROOT;
    return this.#root;
  }

  /** Root hash of the first `size` leaves. @throws CoreError PROOF_RANGE_INVALID when size > this.size. */
  rootAt(size: number): Uint8Array {
    if (size > this.#size)
      throw new CoreError('PROOF_RANGE_INVALID', `size ${size} above tree size ${this.#size}`);
    return size === this.#size ? this.root() : rootAt(this, size);
  }

  /**
   * Appends the leaf hashes of `receipts` (SHA-256(0x00 ‖ bytes)) in one transaction and
   * returns their indices. When it returns, the leaves are committed; when it throws, none is.
   * `firstIndex`, when given, must be the log's size (the first receipt's `seq`), so a receipt
   * can never land at another index than the one it names.
   * @throws AgentError AGENT_STORE_FAILED when firstIndex is not the size, or SQLite fails.
   */
  append(receipts: readonly Uint8Array[], firstIndex?: number): number[] {
    return this.appendLeafHashes(receipts.map(leafHash), firstIndex);
  }

  /** append() for leaf hashes computed by the caller (32 bytes each). */
  appendLeafHashes(leaves: readonly Uint8Array[], firstIndex?: number): number[] {
    if (leaves.some((h) => h.length !== 32)) throw new TypeError('leaf hashes must be 32 bytes');
    const first = this.#size;
    if (firstIndex !== undefined && firstIndex !== first)
      throw new AgentError(
        'AGENT_STORE_FAILED',
        `append at index ${firstIndex}, but the log holds ${first} leaves`,
      );
    const frontier = this.#frontier.slice();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (let i = 0; i < leaves.length; i++) {
        let h = leaves[i]!;
        let idx = first + i;
        let level = 0;
        this.#putNode.run(0, idx, h);
        while (idx % 2 === 1) {
          h = nodeHash(frontier[level]!, h);
          level++;
          idx = (idx - 1) / 2;
          this.#putNode.run(level, idx, h);
        }
        frontier[level] = h;
      }
      this.#db.exec('COMMIT');
    } catch (cause) {
      this.#db.exec('ROLLBACK');
      throw new AgentError('AGENT_STORE_FAILED', `receipt log append failed: ${String(cause)}`, { cause });
    }
    this.#frontier = frontier;
    this.#size = first + leaves.length;
    this.#root = null;
    return leaves.map((_, i) => first + i);
  }

  /**
   * Signs a checkpoint of the tree as it is now with `signers` (the agent key first: see
   * checkpointSigner), stores it durably (fsync, which also makes every earlier append durable)
   * and returns it. Only committed leaves are covered. Signing the same note twice stores it once.
   * `extensions` are the note's extension lines (docs/checkpoint.md: `tmb-telemetry`), read when
   * the checkpoint is signed.
   */
  checkpoint(
    origin: string,
    signers: NoteSigner | readonly NoteSigner[],
    extensions: () => readonly string[] = () => [],
  ): Promise<StoredCheckpoint> {
    // One at a time, so signing order (seq) is also size order even with a slow async signer.
    const run = this.#signing.then(() => this.#checkpoint(origin, signers, extensions()));
    this.#signing = run.catch(() => undefined);
    return run;
  }

  async #checkpoint(
    origin: string,
    signers: NoteSigner | readonly NoteSigner[],
    extensions: readonly string[],
  ): Promise<StoredCheckpoint> {
    const size = this.#size;
    const root = this.root();
    const list = Array.isArray(signers) ? (signers as readonly NoteSigner[]) : [signers as NoteSigner];
    const note = await signCheckpoint({ origin, size, root, extensions: [...extensions] }, list);
    this.#db
      .prepare('INSERT OR IGNORE INTO log_checkpoints (size, root, note) VALUES (?, ?, ?)')
      .run(size, root, note);
    // A checkpoint is about to be published: its leaves and the note must survive power loss,
    // not only a crash. The WAL is fsynced on the libuv thread pool, not on the event loop
    // (a synchronous=FULL commit here stalled every exchange in flight: bench/proxy.bench.ts).
    await syncWal(this.#db);
    const row = this.#db.prepare('SELECT seq FROM log_checkpoints WHERE note = ?').get(note) as {
      seq: number;
    };
    return { seq: row.seq, size, root, note };
  }

  /** Every stored checkpoint, in signing order. */
  checkpoints(): StoredCheckpoint[] {
    return this.#db
      .prepare('SELECT seq, size, root, note FROM log_checkpoints ORDER BY seq')
      .all()
      .map(toCheckpoint);
  }

  /** The last checkpoint signed, or null. */
  latestCheckpoint(): StoredCheckpoint | null {
    const row = this.#db
      .prepare('SELECT seq, size, root, note FROM log_checkpoints ORDER BY seq DESC LIMIT 1')
      .get();
    return row === undefined ? null : toCheckpoint(row);
  }

  /** Whether the tree still has a stored checkpoint's size and root (CHECKPOINT_ROOT_MISMATCH if not). */
  checkCheckpoint(cp: { size: number; root: Uint8Array }): LogVerification {
    if (cp.size > this.#size)
      return {
        ok: false,
        code: 'CHECKPOINT_ROOT_MISMATCH',
        detail: `checkpoint size ${cp.size} above tree size ${this.#size}`,
      };
    if (!bytesEqual(this.rootAt(cp.size), cp.root))
      return {
        ok: false,
        code: 'CHECKPOINT_ROOT_MISMATCH',
        detail: `tree root at size ${cp.size} differs from the checkpoint's`,
      };
    return { ok: true, detail: `tree matches the checkpoint at size ${cp.size}` };
  }

  /**
   * Audits the whole log: every stored checkpoint's root against the tree, and a consistency
   * proof between each pair of consecutive checkpoints (by size): O(c log n) reads. With `deep`,
   * first recomputes every stored interior node from the leaves (O(n)), so a changed leaf is
   * found even where the cached nodes above it were left alone.
   */
  audit(deep = false): LogVerification {
    if (deep) {
      const bad = this.#firstBadNode();
      if (bad !== null) return { ok: false, code: 'CHECKPOINT_ROOT_MISMATCH', detail: bad };
    }
    const all = this.checkpoints().sort((a, b) => a.size - b.size || a.seq - b.seq);
    for (const cp of all) {
      const r = this.checkCheckpoint(cp);
      if (!r.ok) return { ...r, detail: `checkpoint ${cp.seq}: ${r.detail}` };
    }
    for (let i = 1; i < all.length; i++) {
      const a = all[i - 1]!;
      const b = all[i]!;
      const r = verifyConsistency(this.consistencyProof(a.size, b.size), a.root, b.root);
      if (!r.ok) return { ...r, detail: `checkpoints ${a.seq} -> ${b.seq}: ${r.detail}` };
    }
    return {
      ok: true,
      detail: `${all.length} checkpoints match the tree of size ${this.#size} and each other`,
    };
  }

  #firstBadNode(): string | null {
    const right: Uint8Array[] = [];
    let index = 0;
    for (const row of this.#db
      .prepare('SELECT idx, hash FROM log_nodes WHERE level = 0 ORDER BY idx')
      .iterate()) {
      const { idx, hash } = row as { idx: number; hash: Uint8Array };
      if (idx !== index) return `leaf ${index} is missing`;
      let h = hash;
      let i = idx;
      let level = 0;
      while (i % 2 === 1) {
        h = nodeHash(right[level]!, h);
        level++;
        i = (i - 1) / 2;
        if (!bytesEqual(this.node(level, i), h)) return `node (${level}, ${i}) does not match its leaves`;
      }
      right[level] = h;
      index++;
    }
    return index === this.#size ? null : `tree size ${this.#size} but ${index} leaves`;
  }

  /**
   * Inclusion proof of leaf `index` in the tree of `size` leaves (default: the whole tree).
   * @throws CoreError PROOF_RANGE_INVALID unless index < size <= this.size.
   */
  inclusionProof(index: number, size: number = this.#size): InclusionProof {
    if (size > this.#size)
      throw new CoreError('PROOF_RANGE_INVALID', `size ${size} above tree size ${this.#size}`);
    return inclusionProof(this, index, size);
  }

  /**
   * Consistency proof from tree size `from` to `to` (default: the whole tree).
   * @throws CoreError PROOF_RANGE_INVALID unless from <= to <= this.size.
   */
  consistencyProof(from: number, to: number = this.#size): ConsistencyProof {
    if (to > this.#size)
      throw new CoreError('PROOF_RANGE_INVALID', `size ${to} above tree size ${this.#size}`);
    return consistencyProof(this, from, to);
  }

  /** Closes the database when the log opened it. */
  close(): void {
    if (this.#owned) this.#db.close();
  }
}

/** fsync of a database's WAL file, off the event loop; nothing to do for an in-memory database. */
async function syncWal(db: DatabaseSync): Promise<void> {
  const path = db.location();
  if (path === null || path === '') return;
  let fh: FileHandle;
  try {
    fh = await open(`${path}-wal`, 'r+');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing written since the last checkpoint
    throw cause;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
