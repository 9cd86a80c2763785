import { DatabaseSync } from 'node:sqlite';
import { bytesEqual } from '@tmb/core';
import { migrate } from '@tmb/core/store';
import type { Sample } from '@tmb/stats';

/** Where an agent's telemetry chain stands: the chain number (+1 per restart), next seq, head. */
export interface ChainState {
  chain: number;
  nextSeq: number;
  head: Uint8Array;
  restarts: number;
}

/** A request span kept for overlap (concurrency and energy sharing), on the sample clock (ms). */
export interface StoredSpan {
  id: string;
  start: number;
  firstToken: number | null;
  end: number;
  tokens: number;
}

/** One accepted batch as stored: its chain and seq, head, and GPU samples (validated). */
export interface StoredBatch {
  chain: number;
  seq: number;
  head: Uint8Array;
  gpu: readonly Sample[];
}

/**
 * Where the verifier keeps telemetry (docs/telemetry.md): the embedded SQLite one below, or a
 * networked one (PostgreSQL) that several verifier processes share. Every method is async.
 * Semantics a second implementation must keep are on each method; samples are kept as the JSON
 * of the validated sample, per agent and GPU, ordered by `t`.
 */
export interface TelemetryStore {
  /** Where the agent's chain stands, or undefined before its first accepted batch. */
  chain(agent: string): Promise<ChainState | undefined>;
  /** The heads kept for batches `seqs` of `chain` (for telling a re-push from a fork); a seq
   * whose head is not kept (never received, or dropped by retention) is absent from the map. */
  batchHeads(agent: string, chain: number, seqs: readonly number[]): Promise<Map<number, Uint8Array>>;
  /**
   * Stores accepted batches and the agent's new chain state in one transaction, only when the
   * chain state is still `expected` (undefined: the agent has none yet), compared on chain,
   * nextSeq and head; returns false, storing nothing, when another push (this process or
   * another) changed it first: the caller re-reads and checks again. Of two pushes from the same
   * state exactly one stores. Then applies retention: each time nextSeq crosses a multiple of 64
   * (or a new chain starts), keeps the agent's newest `retainSamples` samples (ties at the cut
   * kept) and the heads of the last 10,000 batches of the current chain.
   */
  append(
    agent: string,
    expected: ChainState | undefined,
    state: ChainState,
    batches: readonly StoredBatch[],
  ): Promise<boolean>;
  /** GPU `gpu`'s samples in [start, end] (ms, at most 100,000, oldest first) plus the last one
   * before and the first one after. */
  window(agent: string, gpu: number, start: number, end: number): Promise<Sample[]>;
  /**
   * Records a receipt's span (idempotent by id: the first record of an id is kept) and returns
   * every recorded span of the agent overlapping it (start within the hour before, start <= its
   * end, end >= its start; itself included); drops the agent's spans starting a day before it.
   */
  spans(agent: string, span: StoredSpan): Promise<StoredSpan[]>;
  close(): Promise<void>;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tm_chain (agent TEXT PRIMARY KEY, chain INTEGER NOT NULL, next_seq INTEGER NOT NULL,
  head BLOB NOT NULL, restarts INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tm_batch (agent TEXT NOT NULL, chain INTEGER NOT NULL, seq INTEGER NOT NULL,
  head BLOB NOT NULL, PRIMARY KEY (agent, chain, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tm_sample (agent TEXT NOT NULL, gpu INTEGER NOT NULL, t REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tm_sample_at ON tm_sample (agent, gpu, t);
CREATE INDEX IF NOT EXISTS tm_sample_agent_t ON tm_sample (agent, t);
CREATE TABLE IF NOT EXISTS tm_span (id TEXT PRIMARY KEY, agent TEXT NOT NULL, start REAL NOT NULL,
  first REAL, end REAL NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tm_span_at ON tm_span (agent, start);
`;

/** Most samples one window query returns (a 10-minute request at 10 Hz is 6,000). */
const MAX_WINDOW = 100_000;

/**
 * The verifier's telemetry tables, in their own SQLite database next to the receipt store
 * (`<dbPath>.telemetry`, or in memory): chain state per agent, recent batch heads (for
 * idempotent re-pushes), samples per agent and GPU with a retention bound, and the spans of
 * appraised receipts. Samples are stored as the JSON the agent sent (after validation). Several
 * processes may open one file (WAL): append's compare-and-set keeps their pushes apart.
 */
export class SqliteTelemetryStore implements TelemetryStore {
  readonly #db: DatabaseSync;
  readonly #retain: number;

  constructor(path: string, retainSamples: number) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    // Versioned like the receipt store (docs/deploy.md, "Migrations"); SCHEMA is version 1, frozen.
    migrate(
      this.#db,
      [{ version: 1, description: 'telemetry chains, batches, samples, spans', up: SCHEMA }],
      {
        store: 'verifier-telemetry',
        detect: (db) => (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'tm_chain'").get() ? 1 : 0),
      },
    );
    this.#retain = retainSamples;
  }

  async chain(agent: string): Promise<ChainState | undefined> {
    return this.#chain(agent);
  }

  #chain(agent: string): ChainState | undefined {
    const r = this.#db
      .prepare('SELECT chain, next_seq, head, restarts FROM tm_chain WHERE agent = ?')
      .get(agent) as { chain: number; next_seq: number; head: Uint8Array; restarts: number } | undefined;
    return r && { chain: r.chain, nextSeq: r.next_seq, head: new Uint8Array(r.head), restarts: r.restarts };
  }

  async batchHeads(agent: string, chain: number, seqs: readonly number[]): Promise<Map<number, Uint8Array>> {
    const q = this.#db.prepare('SELECT head FROM tm_batch WHERE agent = ? AND chain = ? AND seq = ?');
    const out = new Map<number, Uint8Array>();
    for (const seq of new Set(seqs)) {
      const r = q.get(agent, chain, seq) as { head: Uint8Array } | undefined;
      if (r !== undefined) out.set(seq, new Uint8Array(r.head));
    }
    return out;
  }

  async append(
    agent: string,
    expected: ChainState | undefined,
    state: ChainState,
    batches: readonly StoredBatch[],
  ): Promise<boolean> {
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
      if (!sameChain(this.#chain(agent), expected)) {
        db.exec('ROLLBACK');
        return false;
      }
      const putBatch = db.prepare(
        'INSERT OR REPLACE INTO tm_batch (agent, chain, seq, head) VALUES (?, ?, ?, ?)',
      );
      const putSample = db.prepare('INSERT INTO tm_sample (agent, gpu, t, data) VALUES (?, ?, ?, ?)');
      for (const b of batches) {
        putBatch.run(agent, b.chain, b.seq, b.head);
        for (const s of b.gpu) putSample.run(agent, (s as { gpu?: number }).gpu ?? 0, s.t, JSON.stringify(s));
      }
      db.prepare(
        'INSERT OR REPLACE INTO tm_chain (agent, chain, next_seq, head, restarts) VALUES (?, ?, ?, ?, ?)',
      ).run(agent, state.chain, state.nextSeq, state.head, state.restarts);
      if (retentionDue(expected, state)) this.#retention(agent, state);
      db.exec('COMMIT');
      return true;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
  }

  /** The newest `retain` samples per agent, batch heads for the last 10,000 batches. */
  #retention(agent: string, state: ChainState): void {
    this.#db
      .prepare(
        `DELETE FROM tm_sample WHERE agent = ? AND t < (SELECT t FROM tm_sample WHERE agent = ?
           ORDER BY t DESC LIMIT 1 OFFSET ?)`,
      )
      .run(agent, agent, this.#retain - 1); // the retain-th newest's t: it and newer stay
    this.#db
      .prepare('DELETE FROM tm_batch WHERE agent = ? AND (chain < ? OR seq < ?)')
      .run(agent, state.chain, state.nextSeq - 10_000);
  }

  async window(agent: string, gpu: number, start: number, end: number): Promise<Sample[]> {
    const db = this.#db;
    const before = db
      .prepare('SELECT data FROM tm_sample WHERE agent = ? AND gpu = ? AND t < ? ORDER BY t DESC LIMIT 1')
      .all(agent, gpu, start) as { data: string }[];
    const inside = db
      .prepare(
        'SELECT data FROM tm_sample WHERE agent = ? AND gpu = ? AND t >= ? AND t <= ? ORDER BY t ASC LIMIT ?',
      )
      .all(agent, gpu, start, end, MAX_WINDOW) as { data: string }[];
    const after = db
      .prepare('SELECT data FROM tm_sample WHERE agent = ? AND gpu = ? AND t > ? ORDER BY t ASC LIMIT 1')
      .all(agent, gpu, end) as { data: string }[];
    return [...before, ...inside, ...after].map((r) => JSON.parse(r.data) as Sample);
  }

  async spans(agent: string, span: StoredSpan): Promise<StoredSpan[]> {
    this.#db
      .prepare(
        'INSERT OR IGNORE INTO tm_span (id, agent, start, first, end, tokens) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(span.id, agent, span.start, span.firstToken, span.end, span.tokens);
    // Spans starting up to an hour before could still overlap; those a day older are dropped.
    this.#db.prepare('DELETE FROM tm_span WHERE agent = ? AND start < ?').run(agent, span.start - 86_400_000);
    const rows = this.#db
      .prepare(
        'SELECT id, start, first, end, tokens FROM tm_span WHERE agent = ? AND start <= ? AND start >= ? AND end >= ?',
      )
      .all(agent, span.end, span.start - 3_600_000, span.start) as {
      id: string;
      start: number;
      first: number | null;
      end: number;
      tokens: number;
    }[];
    return rows.map((r) => ({ id: r.id, start: r.start, firstToken: r.first, end: r.end, tokens: r.tokens }));
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

function sameChain(a: ChainState | undefined, b: ChainState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.chain === b.chain && a.nextSeq === b.nextSeq && bytesEqual(a.head, b.head);
}

/**
 * Retention runs when nextSeq crosses a multiple of 64 or a new chain starts: a cadence every
 * process sharing the database computes alike from the chain state (a per-process push counter
 * would let N processes each wait 64 pushes).
 */
export function retentionDue(before: ChainState | undefined, after: ChainState): boolean {
  if (before === undefined || before.chain !== after.chain) return true;
  return Math.floor(before.nextSeq / 64) !== Math.floor(after.nextSeq / 64);
}
