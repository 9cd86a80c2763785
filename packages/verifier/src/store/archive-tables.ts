import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ArchivedAt, ArchivedQuoteIn, ArchivedRow } from './types.ts';

/**
 * Schema step of the verifier store for the offline bundles' archive (issue 12, docs/bundle.md
 * "At the verifier"): one row per accepted quote, where it used to be one attestation row per
 * quote (`bundle <agent> <n>`) plus a per-agent index row (`bundle <agent>`) rewritten whole on
 * every quote. The step moves those rows here (the index's boots and seq ends become columns)
 * and deletes them: a database of the previous layout keeps serving its bundles.
 */
export const ARCHIVE_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS bundle_quotes (
  agent TEXT NOT NULL,
  n INTEGER NOT NULL,
  boot INTEGER NOT NULL,
  reset_count INTEGER NOT NULL,
  seq_end INTEGER NOT NULL,
  quote TEXT NOT NULL,
  PRIMARY KEY (agent, n)
) STRICT;
CREATE INDEX IF NOT EXISTS bundle_quotes_seq ON bundle_quotes (agent, seq_end);
INSERT INTO bundle_quotes (agent, n, boot, reset_count, seq_end, quote)
SELECT substr(i.agent, 8), json_extract(b.value, '$.first') + s.key,
  json_extract(b.value, '$.first'), json_extract(b.value, '$.resetCount'), s.value, q.state
FROM attest_agents AS i, json_each(i.state, '$.boots') AS b, json_each(b.value, '$.sizes') AS s
JOIN attest_agents AS q ON q.agent = i.agent || ' ' || (json_extract(b.value, '$.first') + s.key)
WHERE substr(i.agent, 1, 7) = 'bundle ' AND instr(substr(i.agent, 8), ' ') = 0;
DELETE FROM attest_agents WHERE substr(agent, 1, 7) = 'bundle ';
`;

/** The statements behind the Store's archive methods (SqliteStore delegates here). */
export class ArchiveTables {
  readonly #q: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      append: p(
        `INSERT INTO bundle_quotes (agent, n, boot, reset_count, seq_end, quote)
         SELECT $agent, coalesce(l.n + 1, 0),
           CASE WHEN l.n IS NULL OR $fresh = 1 OR l.reset_count <> $reset THEN coalesce(l.n + 1, 0) ELSE l.boot END,
           $reset, $seqEnd, $quote
         FROM (SELECT 1) AS one LEFT JOIN
           (SELECT n, boot, reset_count FROM bundle_quotes WHERE agent = $agent ORDER BY n DESC LIMIT 1) AS l ON 1
         RETURNING n, boot`,
      ),
      prune: p(
        `DELETE FROM bundle_quotes WHERE agent = $agent AND boot < (SELECT min(boot) FROM
           (SELECT DISTINCT boot FROM bundle_quotes WHERE agent = $agent ORDER BY boot DESC LIMIT $keep))`,
      ),
      judging: p(
        `SELECT q.n, q.boot, q.reset_count, q.seq_end, q.quote FROM bundle_quotes AS q,
           (SELECT n, boot FROM bundle_quotes WHERE agent = $agent AND seq_end > $seq ORDER BY n LIMIT 1) AS hit
         WHERE q.agent = $agent AND q.n >= hit.boot AND q.n <= hit.n ORDER BY q.n`,
      ),
      at: p(
        `SELECT (SELECT min(n) FROM bundle_quotes WHERE agent = $agent) AS first,
           h.n, h.boot, h.reset_count, h.seq_end, h.quote
         FROM (SELECT 1) AS one LEFT JOIN
           (SELECT n, boot, reset_count, seq_end, quote FROM bundle_quotes
            WHERE agent = $agent AND seq_end > $seq ORDER BY n LIMIT 1) AS h ON 1`,
      ),
    };
  }

  /** One INSERT decides n and boot; a boot's first row then prunes (as pg-archive.ts). */
  append(agent: string, q: ArchivedQuoteIn, keepBoots: number): { n: number; boot: number } {
    const row = this.#q.append!.get({
      agent,
      fresh: q.fresh ? 1 : 0,
      reset: q.resetCount,
      seqEnd: q.seqEnd,
      quote: q.quote,
    })!;
    const out = { n: Number(row.n), boot: Number(row.boot) };
    if (out.n === out.boot) this.#q.prune!.run({ agent, keep: keepBoots });
    return out;
  }

  judging(agent: string, seq: number): ArchivedRow[] {
    return this.#q.judging!.all({ agent, seq }).map(archivedRow);
  }

  at(agent: string, seq: number): ArchivedAt {
    return archivedAtRow(this.#q.at!.get({ agent, seq })!);
  }
}

/** A bundle_quotes row of either store as an ArchivedRow (PostgreSQL's BIGINTs come as strings). */
export function archivedRow(r: Record<string, unknown>): ArchivedRow {
  return {
    n: Number(r.n),
    boot: Number(r.boot),
    resetCount: Number(r.reset_count),
    seqEnd: Number(r.seq_end),
    quote: r.quote as string,
  };
}

/** The one row of either store's archivedAt query as an ArchivedAt (n is NULL when nothing is above the seq). */
export function archivedAtRow(r: Record<string, unknown>): ArchivedAt {
  return {
    hit: r.n === null || r.n === undefined ? undefined : archivedRow(r),
    first: r.first === null || r.first === undefined ? undefined : Number(r.first),
  };
}
