import { archivedAtRow, archivedRow } from './archive-tables.ts';
import type { Sql } from './pg-connect.ts';
import type { ArchivedAt, ArchivedQuoteIn, ArchivedRow } from './types.ts';

/**
 * The bundle archive's table on PostgreSQL (archive-tables.ts is the SQLite twin, with the same
 * move of the previous layout's `bundle <agent>` and `bundle <agent> <n>` attestation rows).
 */
export const PG_ARCHIVE_TABLE = `
CREATE TABLE bundle_quotes (
  agent TEXT COLLATE "C" NOT NULL,
  n BIGINT NOT NULL,
  boot BIGINT NOT NULL,
  reset_count BIGINT NOT NULL,
  seq_end BIGINT NOT NULL,
  quote TEXT NOT NULL,
  PRIMARY KEY (agent, n)
);
CREATE INDEX bundle_quotes_seq ON bundle_quotes (agent, seq_end);
INSERT INTO bundle_quotes (agent, n, boot, reset_count, seq_end, quote)
SELECT substr(i.agent, 8), (b.v ->> 'first')::bigint + s.ord - 1, (b.v ->> 'first')::bigint,
  (b.v ->> 'resetCount')::bigint, s.size::bigint, q.state
FROM attest_agents AS i
CROSS JOIN LATERAL jsonb_array_elements(i.state::jsonb -> 'boots') AS b(v)
CROSS JOIN LATERAL jsonb_array_elements_text(b.v -> 'sizes') WITH ORDINALITY AS s(size, ord)
JOIN attest_agents AS q ON q.agent = i.agent || ' ' || ((b.v ->> 'first')::bigint + s.ord - 1)::text
WHERE left(i.agent, 7) = 'bundle ' AND strpos(substr(i.agent, 8), ' ') = 0;
DELETE FROM attest_agents WHERE left(agent, 7) = 'bundle ';
`;

/**
 * Store.appendArchived on PostgreSQL, in one statement (one round trip per quote): the INSERT
 * decides n and boot from the agent's newest row; when the row starts a boot, the DELETE beside
 * it removes the rows of boots older than the agent's `keepBoots - 1` newest existing ones (with
 * the new boot, `keepBoots` are kept). Both see the rows as they were before the statement.
 */
export async function appendArchived(
  sql: Sql,
  agent: string,
  q: ArchivedQuoteIn,
  keepBoots: number,
): Promise<{ n: number; boot: number }> {
  const [row] = await sql`WITH last AS (
      SELECT n, boot, reset_count FROM bundle_quotes WHERE agent = ${agent} ORDER BY n DESC LIMIT 1
    ), next AS (
      SELECT coalesce((SELECT n + 1 FROM last), 0) AS n,
        CASE WHEN NOT EXISTS (SELECT 1 FROM last) OR ${q.fresh}
            OR (SELECT reset_count FROM last) <> ${q.resetCount}
          THEN coalesce((SELECT n + 1 FROM last), 0) ELSE (SELECT boot FROM last) END AS boot
    ), ins AS (
      INSERT INTO bundle_quotes (agent, n, boot, reset_count, seq_end, quote)
      SELECT ${agent}, n, boot, ${q.resetCount}, ${q.seqEnd}, ${q.quote} FROM next
      RETURNING n, boot
    ), pruned AS (
      DELETE FROM bundle_quotes WHERE agent = ${agent} AND (SELECT n = boot FROM next)
        AND boot < coalesce((SELECT min(boot) FROM (SELECT DISTINCT boot FROM bundle_quotes
          WHERE agent = ${agent} ORDER BY boot DESC LIMIT ${keepBoots - 1}) AS kept), (SELECT n FROM next))
    )
    SELECT n, boot FROM ins`;
  return { n: Number(row!.n), boot: Number(row!.boot) };
}

/** Store.archivedFor on PostgreSQL: one range query. */
export async function archivedFor(sql: Sql, agent: string, seq: number): Promise<ArchivedRow[]> {
  const rows = await sql`SELECT q.n, q.boot, q.reset_count, q.seq_end, q.quote FROM bundle_quotes AS q,
      (SELECT n, boot FROM bundle_quotes WHERE agent = ${agent} AND seq_end > ${seq} ORDER BY n LIMIT 1) AS hit
    WHERE q.agent = ${agent} AND q.n >= hit.boot AND q.n <= hit.n ORDER BY q.n`;
  return rows.map((r) => archivedRow(r));
}

/** Store.archivedAt on PostgreSQL: one query (the agent's lowest n from the primary key). */
export async function archivedAt(sql: Sql, agent: string, seq: number): Promise<ArchivedAt> {
  const [row] = await sql`SELECT (SELECT min(n) FROM bundle_quotes WHERE agent = ${agent}) AS first,
      h.n, h.boot, h.reset_count, h.seq_end, h.quote
    FROM (SELECT 1) AS one LEFT JOIN
      (SELECT n, boot, reset_count, seq_end, quote FROM bundle_quotes
       WHERE agent = ${agent} AND seq_end > ${seq} ORDER BY n LIMIT 1) AS h ON true`;
  return archivedAtRow(row!);
}
