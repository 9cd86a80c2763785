import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { NodeRecord, Refusal } from './types.ts';

/**
 * Schema step of the verifier store for log runs (docs/api.md, "Store"): the Merkle trees the
 * verifier rebuilds per agent, run and base (nodes of level >= 1; level 0 is log_leaves at seq base +
 * index), and the receipts it refused at a log position (why a run ended, in its own words).
 */
export const TREE_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS verifier_log_trees (
  agent TEXT NOT NULL,
  run INTEGER NOT NULL,
  base INTEGER NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (agent, run, base)
) STRICT;
CREATE TABLE IF NOT EXISTS verifier_log_nodes (
  agent TEXT NOT NULL,
  run INTEGER NOT NULL,
  base INTEGER NOT NULL,
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (agent, run, base, level, idx)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_refusals (
  agent TEXT NOT NULL,
  seq INTEGER NOT NULL,
  code TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (agent, seq)
) STRICT, WITHOUT ROWID;
`;

/** The statements behind the Store's tree and refusal methods (SqliteStore delegates here). */
export class TreeTables {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      tree: p('SELECT size FROM verifier_log_trees WHERE agent = ? AND run = ? AND base = ?'),
      putTree: p(
        'INSERT INTO verifier_log_trees (agent, run, base, size) VALUES (?, ?, ?, ?) ON CONFLICT (agent, run, base) DO UPDATE SET size = excluded.size WHERE excluded.size > size',
      ),
      node: p(
        'SELECT hash FROM verifier_log_nodes WHERE agent = ? AND run = ? AND base = ? AND level = ? AND idx = ?',
      ),
      leaf: p('SELECT hash FROM log_leaves WHERE agent = ? AND seq = ?'),
      putNode: p(
        'INSERT INTO verifier_log_nodes (agent, run, base, level, idx, hash) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      putRefusal: p(
        'INSERT INTO log_refusals (agent, seq, code, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      refusal: p(
        'SELECT seq, code, at FROM log_refusals WHERE agent = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT 1',
      ),
    };
  }

  size(agent: string, run: number, base: number): number {
    const row = this.#q.tree!.get(agent, run, base);
    return row === undefined ? 0 : Number(row.size);
  }

  nodes(agent: string, run: number, base: number, at: readonly { level: number; index: number }[]) {
    return at.map(({ level, index }) => {
      const row =
        level === 0
          ? this.#q.leaf!.get(agent, base + index)
          : this.#q.node!.get(agent, run, base, level, index);
      return row === undefined ? undefined : new Uint8Array(row.hash as Uint8Array);
    });
  }

  grow(agent: string, run: number, base: number, size: number, nodes: readonly NodeRecord[]): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const n of nodes) this.#q.putNode!.run(agent, run, base, n.level, n.index, n.hash);
      this.#q.putTree!.run(agent, run, base, size);
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK'); // SQLITE_FULL ends it itself
      throw err;
    }
  }

  putRefusals(agent: string, list: readonly Refusal[]): void {
    for (const r of list) this.#q.putRefusal!.run(agent, r.seq, r.code, r.at);
  }

  firstRefusal(agent: string, from: number, to: number): Refusal | undefined {
    const row = this.#q.refusal!.get(agent, from, to);
    return row === undefined
      ? undefined
      : { seq: Number(row.seq), code: row.code as string, at: Number(row.at) };
  }
}
