import { DatabaseSync } from 'node:sqlite';
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
 * appraised receipts. Samples are stored as the JSON the agent sent (after validation).
 */
export class TelemetryStore {
  readonly #db: DatabaseSync;
  readonly #retain: number;
  readonly #appends = new Map<string, number>();

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

  chain(agent: string): ChainState | undefined {
    const r = this.#db
      .prepare('SELECT chain, next_seq, head, restarts FROM tm_chain WHERE agent = ?')
      .get(agent) as { chain: number; next_seq: number; head: Uint8Array; restarts: number } | undefined;
    return r && { chain: r.chain, nextSeq: r.next_seq, head: new Uint8Array(r.head), restarts: r.restarts };
  }

  /** The head stored for batch `seq` of `chain`, for telling a re-push from a fork. */
  batchHead(agent: string, chain: number, seq: number): Uint8Array | undefined {
    const r = this.#db
      .prepare('SELECT head FROM tm_batch WHERE agent = ? AND chain = ? AND seq = ?')
      .get(agent, chain, seq) as { head: Uint8Array } | undefined;
    return r && new Uint8Array(r.head);
  }

  /** Stores accepted batches and the new chain state in one transaction, then applies retention. */
  append(
    agent: string,
    state: ChainState,
    batches: readonly { chain: number; seq: number; head: Uint8Array; gpu: readonly Sample[] }[],
  ): void {
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
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
      // Retention, every 64th push of an agent: the newest `retain` samples per agent (so at most
      // 64 pushes beyond it), batch heads for the last 10,000 batches.
      const n = (this.#appends.get(agent) ?? 0) + 1;
      this.#appends.set(agent, n);
      if (n % 64 === 1) {
        db.prepare(
          `DELETE FROM tm_sample WHERE agent = ? AND t < (SELECT t FROM tm_sample WHERE agent = ?
             ORDER BY t DESC LIMIT 1 OFFSET ?)`,
        ).run(agent, agent, this.#retain);
        db.prepare('DELETE FROM tm_batch WHERE agent = ? AND (chain < ? OR seq < ?)').run(
          agent,
          state.chain,
          state.nextSeq - 10_000,
        );
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
  }

  /** GPU `gpu`'s samples in [start, end] plus the last one before and the first one after (ms). */
  window(agent: string, gpu: number, start: number, end: number): Sample[] {
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

  /** Records a receipt's span (idempotent) and returns every recorded span of the agent overlapping it. */
  spans(agent: string, span: StoredSpan): StoredSpan[] {
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

  close(): void {
    this.#db.close();
  }
}
