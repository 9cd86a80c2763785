import type postgres from 'postgres';
import type { Sql } from './pg-connect.ts';
import { agentLockKey } from './pg-lock.ts';
import { putReceiptsTx } from './pg-receipts.ts';
import { keyRow } from './rows.ts';
import type { KeyRecord, ReceiptSession } from './types.ts';

/** The pool or a transaction on it: the key statements run on either. */
type Q = Sql | postgres.TransactionSql;

/** Store.addKey: `false` when the key id is enrolled already. */
export async function addKey(q: Q, r: KeyRecord): Promise<boolean> {
  const done = await q`INSERT INTO agent_keys (key_id, agent, key, enrolled_at)
    VALUES (${r.keyId}, ${r.agent}, ${r.key}, ${r.enrolledAt}) ON CONFLICT DO NOTHING`;
  return done.count === 1;
}

/** Store.getKey. */
export async function getKey(q: Q, keyId: string): Promise<KeyRecord | undefined> {
  const [row] = await q`SELECT * FROM agent_keys WHERE key_id = ${keyId}`;
  return row === undefined ? undefined : keyRow(row);
}

/** Store.agentKeys: in enrolment order. */
export async function agentKeys(q: Q, agent: string): Promise<KeyRecord[]> {
  const rows = await q`SELECT * FROM agent_keys WHERE agent = ${agent} ORDER BY enrolled_at, ord`;
  return rows.map(keyRow);
}

/** Store.firstSeqs. */
export async function firstSeqs(q: Q, agent: string): Promise<Map<string, number>> {
  const rows = await q`SELECT key_id, first_seq FROM key_runs WHERE agent = ${agent}`;
  return new Map(rows.map((r) => [r.key_id as string, Number(r.first_seq)]));
}

/**
 * Store.receiptLocked inside transaction `tx`: the advisory lock on `lockKey` (the key
 * PgAgentLock derives, pg-lock.ts agentLockKey) is sent first, so `fn`'s first statements go
 * in the same write and the server runs them only once the lock is granted. The lock is held
 * until the transaction ends (commit, rollback, or the connection's loss); the wait for it is
 * bounded by the pool's statement timeout.
 */
export async function receiptLockedTx<T>(
  tx: postgres.TransactionSql,
  lockKey: string,
  fn: (s: ReceiptSession) => Promise<T>,
): Promise<T> {
  // execute(): postgres.js sends a query when it is first awaited; this one must go first.
  const locked = tx`SELECT pg_advisory_xact_lock(${agentLockKey(lockKey)}::bigint)`.execute();
  const session: ReceiptSession = {
    addKey: (r) => addKey(tx, r),
    getKey: (id) => getKey(tx, id),
    agentKeys: (agent) => agentKeys(tx, agent),
    firstSeqs: (agent) => firstSeqs(tx, agent),
    putReceipts: async (list) => (list.length === 0 ? [] : putReceiptsTx(tx, list)),
  };
  const [, out] = await Promise.all([locked, fn(session)]);
  return out;
}
