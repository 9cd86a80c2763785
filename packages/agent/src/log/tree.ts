import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { bytesEqual, CoreError } from '@tmb/core';
import {
  type ConsistencyProof,
  consistencyProof,
  EMPTY_ROOT,
  formatRunLine,
  type InclusionProof,
  inclusionProof,
  type LogRun,
  type LogVerification,
  leafHash,
  type NoteSigner,
  nodeHash,
  rootAt,
  signCheckpoint,
  type TreeNodes,
} from '@tmb/core/log';
import { migrate } from '@tmb/core/store';
import { AgentError } from '../errors.ts';
import { auditLog } from './audit.ts';
import { SELECT_CHECKPOINT, type StoredCheckpoint, syncWal, toCheckpoint } from './checkpoints.ts';
import { putLeaves } from './frontier.ts';
import { insertRun, latestRun, readRuns, runAt, type StoredRun } from './runs.ts';
import { hasTable, LOG_FORMAT, LOG_STEPS } from './schema.ts';

export type { StoredCheckpoint } from './checkpoints.ts';
export type { StoredRun } from './runs.ts';

// Nodes at level >= 6 (at most n/64 of them, 1.5 MB for 1,000,000 leaves) stay in memory once
// read: most of a proof's siblings in a large tree are there, so a proof costs ~6 SQLite reads.
const CACHE_LEVEL = 6;

/**
 * The agent's append-only Merkle logs of receipts (RFC 6962 hashing), one per log run, persisted
 * in SQLite (layout: schema.ts). Run r's leaf i is the receipt with seq base_r + i; appends go to
 * the current (highest) run, and `startRun` begins a new one past every seq already in a run.
 * Synchronous appends, each batch one transaction; checkpoints signed only over committed leaves
 * and made durable (fsync) before they are returned, so after a crash, `kill -9` included, the
 * log is consistent with every checkpoint it ever returned.
 *
 * Sizes, indices, roots and proofs without a `run` argument are of the current run.
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
  #run: LogRun = { run: 0, base: 0 };
  #size = 0;
  /** frontier[l]: hash of the complete subtree at level l on the right edge, valid when bit l of size is set. */
  #frontier: Uint8Array[] = [];
  #root: Uint8Array | null = null;
  /** Committed nodes of the current run of level >= CACHE_LEVEL, read once: nodes never change. */
  readonly #cache = new Map<number, Uint8Array>();
  #signing: Promise<unknown> = Promise.resolve();

  private constructor(db: DatabaseSync, owned: boolean) {
    this.#db = db;
    this.#owned = owned;
    // A log sharing the receipt store's file was migrated by the store at the same versions.
    migrate(db, LOG_STEPS, { store: 'agent-log', detect: (d) => (hasTable(d, 'log_nodes') ? 1 : 0) });
    const format = db.prepare('SELECT value FROM log_meta WHERE key = ?').get('format') as
      | { value: number }
      | undefined;
    if (format?.value !== LOG_FORMAT)
      throw new AgentError(
        'AGENT_STORE_FAILED',
        `receipt log format ${format?.value}, this build reads ${LOG_FORMAT}`,
      );
    this.#getNode = db.prepare('SELECT hash FROM log_nodes WHERE run = ? AND level = ? AND idx = ?');
    this.#putNode = db.prepare('INSERT INTO log_nodes (run, level, idx, hash) VALUES (?, ?, ?, ?)');
    this.#load();
  }

  /**
   * Opens (creating if needed) the log in a SQLite file in WAL mode, or in a database the
   * caller owns (for instance the receipt store's, so one file holds both; the log commits its own
   * transactions, so do not call append() inside one of yours). Brings the schema to this
   * build's version (schema.ts LOG_STEPS). Checks that the tree still matches the latest
   * checkpoint it signed.
   * @throws CoreError CHECKPOINT_ROOT_MISMATCH when it does not; CoreError STORE_SCHEMA_TOO_NEW
   *   when a newer build wrote the file; AgentError AGENT_STORE_FAILED when the file is not a log
   *   this build reads or a needed node is missing.
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
    this.#run = latestRun(this.#db);
    this.#size = this.#sizeOf(this.#run.run);
    this.#cache.clear();
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
    const latest = this.latestCheckpoint(this.#run.run);
    if (latest !== null) {
      const r = this.checkCheckpoint(latest);
      if (!r.ok) throw new CoreError('CHECKPOINT_ROOT_MISMATCH', r.detail);
    }
  }

  #sizeOf(run: number): number {
    const row = this.#db
      .prepare('SELECT MAX(idx) AS last FROM log_nodes WHERE run = ? AND level = 0')
      .get(run) as { last: number | null };
    return row.last === null ? 0 : row.last + 1;
  }

  /** Number of leaves committed to the current run. */
  get size(): number {
    return this.#size;
  }

  /** The current run: its number and the seq of its leaf 0. */
  get run(): LogRun {
    return { ...this.#run };
  }

  /** The seq the next appended receipt must have: base + size of the current run. */
  get nextSeq(): number {
    return this.#run.base + this.#size;
  }

  /** Every run, oldest first, with its size. */
  runs(): StoredRun[] {
    return readRuns(this.#db).map((r) => ({ ...r, size: this.tree(r.run).size }));
  }

  /**
   * The run that holds the receipt with `seq`, and its leaf index there; null when no run holds
   * it (a seq skipped between runs, or not appended yet).
   */
  locate(seq: number): { run: number; base: number; index: number } | null {
    const run = runAt(this.#db, seq);
    const index = seq - run.base;
    return index < this.tree(run.run).size ? { ...run, index } : null;
  }

  /**
   * Starts run current + 1 at seq `base`: later appends are its leaves from 0. `base` must be at
   * least nextSeq (no seq is in two runs; seqs between nextSeq and base are in none). The
   * current run keeps its leaves and checkpoints (their proofs stay available with `run`).
   * @throws AgentError AGENT_STORE_FAILED when base < nextSeq or SQLite fails.
   */
  startRun(base: number, reason: string, startedUs: number): LogRun {
    if (!Number.isSafeInteger(base) || base < this.nextSeq)
      throw new AgentError('AGENT_STORE_FAILED', `run base ${base} below the next seq ${this.nextSeq}`);
    const next = { run: this.#run.run + 1, base };
    insertRun(this.#db, next, reason, startedUs);
    this.#run = next;
    this.#size = 0;
    this.#frontier = [];
    this.#root = null;
    this.#cache.clear();
    return { ...next };
  }

  /** Hash of the complete subtree (level, index) of the current run; TreeNodes for core's proofs. */
  node(level: number, index: number): Uint8Array {
    const cached = level >= CACHE_LEVEL ? this.#cache.get(level * 2 ** 47 + index) : undefined;
    if (cached !== undefined) return cached;
    const hash = this.#readNode(this.#run.run, this.#size, level, index);
    if (level >= CACHE_LEVEL) this.#cache.set(level * 2 ** 47 + index, hash);
    return hash;
  }

  #readNode(run: number, size: number, level: number, index: number): Uint8Array {
    const row = this.#getNode.get(run, level, index) as { hash: Uint8Array } | undefined;
    if (row !== undefined) return row.hash;
    if (index * 2 ** level + 2 ** level > size)
      throw new CoreError('PROOF_RANGE_INVALID', `subtree (${level}, ${index}) is past tree size ${size}`);
    throw new AgentError('AGENT_STORE_FAILED', `receipt log run ${run} is missing node (${level}, ${index})`);
  }

  /** The nodes and size of run `run` (the current one when left out). */
  tree(run: number = this.#run.run): TreeNodes & { size: number } {
    if (run === this.#run.run) return { size: this.#size, node: (l, i) => this.node(l, i) };
    const size = this.#sizeOf(run);
    return { size, node: (l, i) => this.#readNode(run, size, l, i) };
  }

  /** Leaf hash at `index` of the current run. @throws CoreError PROOF_RANGE_INVALID past the end. */
  leafHash(index: number): Uint8Array {
    return this.node(0, index);
  }

  /** Root hash of the current run's whole tree (from the in-memory right edge: no reads). */
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

  /** Root hash of the first `size` leaves of `run`. @throws CoreError PROOF_RANGE_INVALID past its size. */
  rootAt(size: number, run: number = this.#run.run): Uint8Array {
    const tree = this.tree(run);
    if (size > tree.size)
      throw new CoreError('PROOF_RANGE_INVALID', `size ${size} above run ${run}'s tree size ${tree.size}`);
    return run === this.#run.run && size === this.#size ? this.root() : rootAt(tree, size);
  }

  /**
   * Appends the leaf hashes of `receipts` (SHA-256(0x00 ‖ bytes)) to the current run in one
   * transaction and returns their leaf indices. When it returns, the leaves are committed; when
   * it throws, none is. `firstSeq`, when given, must be nextSeq (the first receipt's `seq`), so a
   * receipt can never land at another position than the one it names.
   * @throws AgentError AGENT_STORE_FAILED when firstSeq is not nextSeq, or SQLite fails.
   */
  append(receipts: readonly Uint8Array[], firstSeq?: number): number[] {
    return this.appendLeafHashes(receipts.map(leafHash), firstSeq);
  }

  /** append() for leaf hashes computed by the caller (32 bytes each). */
  appendLeafHashes(leaves: readonly Uint8Array[], firstSeq?: number): number[] {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const apply = this.stageLeafHashes(leaves, firstSeq);
      this.#db.exec('COMMIT');
      return apply();
    } catch (cause) {
      // SQLite may have ended it itself (SQLITE_FULL does): a ROLLBACK would hide the cause.
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      if (cause instanceof AgentError || cause instanceof TypeError) throw cause;
      throw new AgentError('AGENT_STORE_FAILED', `receipt log append failed: ${String(cause)}`, { cause });
    }
  }

  /**
   * appendLeafHashes() inside a transaction the caller holds open on this log's database (the
   * receipt store's commit: receipts and their leaves in one transaction). Writes the nodes and
   * returns `apply`, which the caller must call once its COMMIT succeeded (it moves the in-memory
   * right edge and returns the leaf indices); after a ROLLBACK, the caller drops it.
   * @throws AgentError AGENT_STORE_FAILED when firstSeq is not nextSeq or no transaction is open;
   *   SQLite's error as it is (the caller's transaction fails with it).
   */
  stageLeafHashes(leaves: readonly Uint8Array[], firstSeq?: number): () => number[] {
    if (leaves.some((h) => h.length !== 32)) throw new TypeError('leaf hashes must be 32 bytes');
    const first = this.#size;
    const run = this.#run.run;
    if (!this.#db.isTransaction) throw new AgentError('AGENT_STORE_FAILED', 'no transaction open');
    if (firstSeq !== undefined && firstSeq !== this.nextSeq)
      throw new AgentError(
        'AGENT_STORE_FAILED',
        `append at seq ${firstSeq}, but the log's next seq is ${this.nextSeq} (run ${run}, ${first} leaves)`,
      );
    const frontier = this.#frontier.slice();
    putLeaves(this.#putNode, run, first, frontier, leaves);
    return () => {
      this.#frontier = frontier;
      this.#size = first + leaves.length;
      this.#root = null;
      return leaves.map((_, i) => first + i);
    };
  }

  /**
   * Signs a checkpoint of the current run's tree as it is now with `signers` (the agent key
   * first: see checkpointSigner), stores it durably (fsync, which also makes every earlier append
   * durable) and returns it. Only committed leaves are covered. Signing the same note twice
   * stores it once. `extensions` are the note's extension lines (docs/checkpoint.md:
   * `tmb-telemetry`), read when the checkpoint is signed; a run >= 1 puts its `tmb-run` line first.
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
    const { run, base } = this.#run;
    const lines = run === 0 ? [...extensions] : [formatRunLine({ run, base }), ...extensions];
    const list = Array.isArray(signers) ? (signers as readonly NoteSigner[]) : [signers as NoteSigner];
    const note = await signCheckpoint({ origin, size, root, extensions: lines }, list);
    this.#db
      .prepare('INSERT OR IGNORE INTO log_checkpoints (size, root, note, run) VALUES (?, ?, ?, ?)')
      .run(size, root, note, run);
    // A checkpoint is about to be published: its leaves and the note must survive power loss,
    // not only a crash. The WAL is fsynced on the libuv thread pool, not on the event loop
    // (a synchronous=FULL commit here stalled every exchange in flight: bench/proxy.bench.ts).
    await syncWal(this.#db);
    const row = this.#db.prepare('SELECT seq FROM log_checkpoints WHERE note = ?').get(note) as {
      seq: number;
    };
    return { seq: row.seq, run, base, size, root, note };
  }

  /** Every stored checkpoint (of every run), in signing order. */
  checkpoints(): StoredCheckpoint[] {
    return this.#db.prepare(`${SELECT_CHECKPOINT} ORDER BY c.seq`).all().map(toCheckpoint);
  }

  /** The last checkpoint signed (of run `run` when given), or null. */
  latestCheckpoint(run?: number): StoredCheckpoint | null {
    const row =
      run === undefined
        ? this.#db.prepare(`${SELECT_CHECKPOINT} ORDER BY c.seq DESC LIMIT 1`).get()
        : this.#db.prepare(`${SELECT_CHECKPOINT} WHERE c.run = ? ORDER BY c.seq DESC LIMIT 1`).get(run);
    return row === undefined ? null : toCheckpoint(row);
  }

  /** Whether its run's tree still has a stored checkpoint's size and root (CHECKPOINT_ROOT_MISMATCH if not). */
  checkCheckpoint(cp: { size: number; root: Uint8Array; run?: number }): LogVerification {
    const run = cp.run ?? this.#run.run;
    const size = this.tree(run).size;
    if (cp.size > size)
      return {
        ok: false,
        code: 'CHECKPOINT_ROOT_MISMATCH',
        detail: `checkpoint size ${cp.size} above run ${run}'s tree size ${size}`,
      };
    if (!bytesEqual(this.rootAt(cp.size, run), cp.root))
      return {
        ok: false,
        code: 'CHECKPOINT_ROOT_MISMATCH',
        detail: `run ${run}'s tree root at size ${cp.size} differs from the checkpoint's`,
      };
    return { ok: true, detail: `run ${run}'s tree matches the checkpoint at size ${cp.size}` };
  }

  /**
   * Audits the whole log: every stored checkpoint's root against its run's tree, and a
   * consistency proof between each pair of consecutive checkpoints of a run (by size):
   * O(c log n) reads. With `deep`, first recomputes every stored interior node from the leaves
   * (O(n)), so a changed leaf is found even where the cached nodes above it were left alone.
   */
  audit(deep = false): LogVerification {
    return auditLog(this, this.#db, deep);
  }

  /**
   * Inclusion proof of leaf `index` in the tree of `size` leaves (default: the whole tree) of
   * `run` (default: the current one).
   * @throws CoreError PROOF_RANGE_INVALID unless index < size <= the run's size.
   */
  inclusionProof(index: number, size?: number, run: number = this.#run.run): InclusionProof {
    const tree = this.tree(run);
    const n = size ?? tree.size;
    if (n > tree.size) throw new CoreError('PROOF_RANGE_INVALID', `size ${n} above tree size ${tree.size}`);
    return inclusionProof(tree, index, n);
  }

  /**
   * Consistency proof from tree size `from` to `to` (default: the whole tree) within `run`
   * (default: the current one): runs are separate logs, never proved against each other.
   * @throws CoreError PROOF_RANGE_INVALID unless from <= to <= the run's size.
   */
  consistencyProof(from: number, to?: number, run: number = this.#run.run): ConsistencyProof {
    const tree = this.tree(run);
    const n = to ?? tree.size;
    if (n > tree.size) throw new CoreError('PROOF_RANGE_INVALID', `size ${n} above tree size ${tree.size}`);
    return consistencyProof(tree, from, n);
  }

  /** Closes the database when the log opened it. */
  close(): void {
    if (this.#owned) this.#db.close();
  }
}
