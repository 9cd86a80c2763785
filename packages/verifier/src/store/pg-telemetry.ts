import type { Sample } from '@tmb/stats';
import {
  type ChainState,
  retentionDue,
  type StoredBatch,
  type StoredSpan,
  type TelemetryStore,
} from '../telemetry/store.ts';
import { type Sql, transaction } from './pg-connect.ts';
import { migratePg, type PgMigrationStep } from './pg-migrate.ts';
import { chunks } from './pg-receipts.ts';
import { via } from './pg-route.ts';

const SCHEMA = `
CREATE TABLE tm_chain (agent TEXT COLLATE "C" PRIMARY KEY, chain BIGINT NOT NULL, next_seq BIGINT NOT NULL,
  head BYTEA NOT NULL, restarts BIGINT NOT NULL);
CREATE TABLE tm_batch (agent TEXT COLLATE "C" NOT NULL, chain BIGINT NOT NULL, seq BIGINT NOT NULL,
  head BYTEA NOT NULL, PRIMARY KEY (agent, chain, seq));
CREATE TABLE tm_sample (agent TEXT COLLATE "C" NOT NULL, gpu INTEGER NOT NULL, t DOUBLE PRECISION NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX tm_sample_at ON tm_sample (agent, gpu, t);
CREATE INDEX tm_sample_agent_t ON tm_sample (agent, t);
CREATE TABLE tm_span (id TEXT COLLATE "C" PRIMARY KEY, agent TEXT COLLATE "C" NOT NULL,
  start_t DOUBLE PRECISION NOT NULL, first_t DOUBLE PRECISION, end_t DOUBLE PRECISION NOT NULL, tokens BIGINT NOT NULL);
CREATE INDEX tm_span_at ON tm_span (agent, start_t);
`;

/** The PostgreSQL telemetry store's schema history (`tmb_schema`, store `verifier-telemetry`). Append only. */
export const PG_TELEMETRY_MIGRATIONS: readonly PgMigrationStep[] = [
  { version: 1, description: 'telemetry chains, batches, samples, spans', up: SCHEMA },
];

/** Most samples one window query returns, as the SQLite store. */
const MAX_WINDOW = 100_000;

/**
 * The verifier's telemetry on PostgreSQL: the TelemetryStore interface (telemetry/store.ts,
 * whose doc comments are the semantics) in the tables above, in the same database and pool as
 * the PgStore. `append`'s compare-and-set is one conditional statement on the chain row (an
 * INSERT ... ON CONFLICT DO NOTHING for the first batch, an UPDATE ... WHERE on the expected
 * state after), so of two processes pushing from one state exactly one stores.
 */
export class PgTelemetryStore implements TelemetryStore {
  readonly #sql: Sql;
  readonly #retain: number;

  /** The pool, or the agent lock's transaction in a locked run (pg-route.ts). */
  get #q(): Sql {
    return via(this.#sql);
  }

  private constructor(sql: Sql, retainSamples: number) {
    this.#sql = sql;
    this.#retain = retainSamples;
  }

  /**
   * Migrates the telemetry tables on `sql` (a pool the caller owns and ends: close() leaves it).
   * @throws CoreError STORE_SCHEMA_TOO_NEW | STORE_MIGRATION_FAILED
   */
  static async open(
    sql: Sql,
    retainSamples: number,
    onMigrated?: (step: { version: number; description: string }) => void,
  ): Promise<PgTelemetryStore> {
    await migratePg(sql, PG_TELEMETRY_MIGRATIONS, { store: 'verifier-telemetry', onApplied: onMigrated });
    return new PgTelemetryStore(sql, retainSamples);
  }

  async chain(agent: string): Promise<ChainState | undefined> {
    const [r] = await this.#q`SELECT chain, next_seq, head, restarts FROM tm_chain WHERE agent = ${agent}`;
    return (
      r && {
        chain: Number(r.chain),
        nextSeq: Number(r.next_seq),
        head: new Uint8Array(r.head as Uint8Array),
        restarts: Number(r.restarts),
      }
    );
  }

  async batchHeads(agent: string, chain: number, seqs: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    for (const part of chunks([...new Set(seqs)].map(String))) {
      const rows = await this.#q`SELECT seq, head FROM tm_batch WHERE agent = ${agent} AND chain = ${chain}
        AND seq = ANY(${this.#q.array(part)}::bigint[])`;
      for (const r of rows) out.set(Number(r.seq), new Uint8Array(r.head as Uint8Array));
    }
    return out;
  }

  async append(
    agent: string,
    expected: ChainState | undefined,
    state: ChainState,
    batches: readonly StoredBatch[],
  ): Promise<boolean> {
    return transaction(this.#sql, async (tx) => {
      const s = state;
      const won =
        expected === undefined
          ? await tx`INSERT INTO tm_chain (agent, chain, next_seq, head, restarts)
              VALUES (${agent}, ${s.chain}, ${s.nextSeq}, ${s.head}, ${s.restarts}) ON CONFLICT DO NOTHING`
          : await tx`UPDATE tm_chain SET chain = ${s.chain}, next_seq = ${s.nextSeq}, head = ${s.head},
              restarts = ${s.restarts} WHERE agent = ${agent} AND chain = ${expected.chain}
              AND next_seq = ${expected.nextSeq} AND head = ${expected.head}`;
      if (won.count !== 1) return false; // another push moved the chain first: nothing stored
      // INSERT OR REPLACE of the SQLite store: the last head given for a seq wins.
      const heads = new Map(batches.map((b) => [`${b.chain}/${b.seq}`, b]));
      for (const part of chunks([...heads.values()])) {
        const rows = part.map((b) => ({ agent, chain: b.chain, seq: b.seq, head: b.head }));
        await tx`INSERT INTO tm_batch ${tx(rows, 'agent', 'chain', 'seq', 'head')}
          ON CONFLICT (agent, chain, seq) DO UPDATE SET head = excluded.head`;
      }
      const samples = batches.flatMap((b) =>
        b.gpu.map((x) => ({ agent, gpu: (x as { gpu?: number }).gpu ?? 0, t: x.t, data: JSON.stringify(x) })),
      );
      for (const part of chunks(samples))
        await tx`INSERT INTO tm_sample ${tx(part, 'agent', 'gpu', 't', 'data')}`;
      if (retentionDue(expected, state)) {
        await tx`DELETE FROM tm_sample WHERE agent = ${agent} AND t < (SELECT t FROM tm_sample
          WHERE agent = ${agent} ORDER BY t DESC LIMIT 1 OFFSET ${this.#retain - 1})`;
        await tx`DELETE FROM tm_batch WHERE agent = ${agent} AND (chain < ${s.chain} OR seq < ${s.nextSeq - 10_000})`;
      }
      return true;
    });
  }

  async window(agent: string, gpu: number, start: number, end: number): Promise<Sample[]> {
    const rows = await this.#q`SELECT data FROM (
      (SELECT 0 AS part, t, data FROM tm_sample WHERE agent = ${agent} AND gpu = ${gpu} AND t < ${start}
        ORDER BY t DESC LIMIT 1)
      UNION ALL
      (SELECT 1, t, data FROM tm_sample WHERE agent = ${agent} AND gpu = ${gpu} AND t >= ${start} AND t <= ${end}
        ORDER BY t ASC LIMIT ${MAX_WINDOW})
      UNION ALL
      (SELECT 2, t, data FROM tm_sample WHERE agent = ${agent} AND gpu = ${gpu} AND t > ${end}
        ORDER BY t ASC LIMIT 1)
    ) w ORDER BY part, t`;
    return rows.map((r) => JSON.parse(r.data as string) as Sample);
  }

  async spans(agent: string, span: StoredSpan): Promise<StoredSpan[]> {
    const sql = this.#q;
    await sql`INSERT INTO tm_span (id, agent, start_t, first_t, end_t, tokens)
      VALUES (${span.id}, ${agent}, ${span.start}, ${span.firstToken}, ${span.end}, ${span.tokens})
      ON CONFLICT (id) DO NOTHING`;
    // Spans starting up to an hour before could still overlap; those a day older are dropped.
    await sql`DELETE FROM tm_span WHERE agent = ${agent} AND start_t < ${span.start - 86_400_000}`;
    const rows = await sql`SELECT id, start_t, first_t, end_t, tokens FROM tm_span WHERE agent = ${agent}
      AND start_t <= ${span.end} AND start_t >= ${span.start - 3_600_000} AND end_t >= ${span.start}`;
    return rows.map((r) => ({
      id: r.id as string,
      start: r.start_t as number,
      firstToken: r.first_t as number | null,
      end: r.end_t as number,
      tokens: Number(r.tokens),
    }));
  }

  /** Leaves the pool to its owner (open.ts ends it with the PgStore). */
  async close(): Promise<void> {}
}
