import type { Sql } from './pg-connect.ts';
import { transaction } from './pg-connect.ts';
import { CHUNK, chunks } from './pg-receipts.ts';
import type { NodeRecord, Refusal } from './types.ts';

/** Store.logTreeSize on PostgreSQL (tree-tables.ts is the SQLite twin). */
export async function treeSize(sql: Sql, agent: string, run: number, base: number): Promise<number> {
  const [row] = await sql`SELECT size FROM verifier_log_trees
    WHERE agent = ${agent} AND run = ${run} AND base = ${base}`;
  return row === undefined ? 0 : Number(row.size);
}

/** Store.logNodes: two set queries (leaves, then inner nodes) whatever the number asked. */
export async function treeNodes(
  sql: Sql,
  agent: string,
  run: number,
  base: number,
  at: readonly { level: number; index: number }[],
): Promise<(Uint8Array | undefined)[]> {
  const found = new Map<string, Uint8Array>();
  const leafSeqs = at.filter((a) => a.level === 0).map((a) => String(base + a.index));
  const inner = at.filter((a) => a.level !== 0);
  for (const part of chunks(leafSeqs)) {
    const rows = await sql`SELECT seq, hash FROM log_leaves
      WHERE agent = ${agent} AND seq = ANY(${sql.array(part)}::bigint[])`;
    for (const r of rows) found.set(`0/${Number(r.seq) - base}`, new Uint8Array(r.hash as Uint8Array));
  }
  for (const part of chunks(inner)) {
    const levels = sql.array(part.map((a) => String(a.level)));
    const indices = sql.array(part.map((a) => String(a.index)));
    const rows = await sql`SELECT level, idx, hash FROM verifier_log_nodes
      WHERE agent = ${agent} AND run = ${run} AND base = ${base}
        AND (level, idx) IN (SELECT * FROM unnest(${levels}::int[], ${indices}::bigint[]))`;
    for (const r of rows) found.set(`${r.level}/${Number(r.idx)}`, new Uint8Array(r.hash as Uint8Array));
  }
  return at.map((a) => found.get(`${a.level}/${a.index}`));
}

/**
 * Store.growLogTree: nodes and the size at once; the size never shrinks. Up to CHUNK nodes (every
 * growth the verifier makes of a busy agent) go in ONE statement, atomic by itself (the nodes
 * from unnest() in a data-modifying CTE, which runs whether or not the size upsert reads it):
 * one round trip and no BEGIN/COMMIT. More nodes: one transaction, every statement sent at once.
 */
export async function growTree(
  sql: Sql,
  agent: string,
  run: number,
  base: number,
  size: number,
  nodes: readonly NodeRecord[],
): Promise<void> {
  if (nodes.length <= CHUNK) {
    const levels = sql.array(nodes.map((n) => String(n.level)));
    const indices = sql.array(nodes.map((n) => String(n.index)));
    const hashes = sql.array(nodes.map((n) => Buffer.from(n.hash).toString('hex')));
    await sql`WITH added AS (
        INSERT INTO verifier_log_nodes (agent, run, base, level, idx, hash)
        SELECT ${agent}::text, ${run}::bigint, ${base}::bigint, l, i, decode(h, 'hex')
        FROM unnest(${levels}::int[], ${indices}::bigint[], ${hashes}::text[]) AS u(l, i, h)
        ON CONFLICT DO NOTHING
      )
      INSERT INTO verifier_log_trees (agent, run, base, size) VALUES (${agent}, ${run}, ${base}, ${size})
      ON CONFLICT (agent, run, base) DO UPDATE SET size = excluded.size
      WHERE excluded.size > verifier_log_trees.size`;
    return;
  }
  // Every statement sent at once (pipelined: one write), run in order by the server.
  await transaction(sql, async (tx) => {
    await Promise.all([
      ...chunks(nodes).map((part) => {
        const rows = part.map((n) => ({ agent, run, base, level: n.level, idx: n.index, hash: n.hash }));
        return tx`INSERT INTO verifier_log_nodes ${tx(rows, 'agent', 'run', 'base', 'level', 'idx', 'hash')}
          ON CONFLICT DO NOTHING`;
      }),
      tx`INSERT INTO verifier_log_trees (agent, run, base, size) VALUES (${agent}, ${run}, ${base}, ${size})
        ON CONFLICT (agent, run, base) DO UPDATE SET size = excluded.size
        WHERE excluded.size > verifier_log_trees.size`,
    ]);
  });
}

/** Store.putRefusals: the first refusal of a seq is kept (also within `list`). */
export async function putRefusals(sql: Sql, agent: string, list: readonly Refusal[]): Promise<void> {
  const seen = new Set<number>();
  const rows = list
    .filter((r) => !seen.has(r.seq) && seen.add(r.seq))
    .map((r) => ({ agent, seq: r.seq, code: r.code, at: r.at }));
  for (const part of chunks(rows)) {
    await sql`INSERT INTO log_refusals ${sql(part, 'agent', 'seq', 'code', 'at')} ON CONFLICT DO NOTHING`;
  }
}

/** Store.firstRefusal: the lowest refused seq in [from, to). */
export async function firstRefusal(
  sql: Sql,
  agent: string,
  from: number,
  to: number,
): Promise<Refusal | undefined> {
  const [row] = await sql`SELECT seq, code, at FROM log_refusals
    WHERE agent = ${agent} AND seq >= ${from} AND seq < ${to} ORDER BY seq LIMIT 1`;
  return row === undefined
    ? undefined
    : { seq: Number(row.seq), code: row.code as string, at: Number(row.at) };
}
