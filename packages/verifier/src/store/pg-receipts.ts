import { leafHash } from '@tmb/core/log';
import type postgres from 'postgres';
import { VerifierError } from '../errors.ts';
import { receiptRow } from './rows.ts';
import type { StoredReceipt } from './types.ts';

type Tx = postgres.TransactionSql;
/** What {@link putReceiptsTx} says of each receipt (Store.putReceipts). */
export type PutOutcome = 'inserted' | 'seq-taken' | StoredReceipt;

/** Rows per multi-row INSERT: PostgreSQL takes at most 65,535 parameters per statement. */
export const CHUNK = 5000;

/** `list` cut into pieces of at most `n`. */
export function chunks<T>(list: readonly T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += n) out.push(list.slice(i, i + n));
  return out;
}

const seqKey = (agent: string, seq: number | string) => `${agent}\0${seq}`;

async function storedById(tx: Tx, ids: readonly string[]): Promise<Map<string, StoredReceipt>> {
  const out = new Map<string, StoredReceipt>();
  for (const part of chunks([...new Set(ids)])) {
    if (part.length === 0) continue;
    const rows = await tx`SELECT * FROM receipts WHERE id = ANY(${tx.array(part)}::text[])`;
    for (const r of rows) out.set(r.id as string, receiptRow(r));
  }
  return out;
}

/**
 * Store.putReceipts inside transaction `tx`, set at a time (a few statements per batch, not per
 * receipt) with SqliteStore's outcome per receipt, in order. Against concurrent writers (other
 * processes) the leaf's primary key decides: an INSERT ... ON CONFLICT DO NOTHING on (agent, seq)
 * waits for a concurrent insert of the same position and yields to it once it commits.
 */
export async function putReceiptsTx(tx: Tx, list: readonly StoredReceipt[]): Promise<PutOutcome[]> {
  const out: (PutOutcome | undefined)[] = new Array(list.length);
  const existing = await storedById(
    tx,
    list.map((r) => r.id),
  );
  // Outcomes decided inside the batch, in order: as SQLite would, one receipt after the other.
  const first = new Map<string, number>();
  const claimed = new Set<string>();
  const same: [number, number][] = [];
  const fresh: number[] = [];
  list.forEach((r, i) => {
    const stored = existing.get(r.id);
    if (stored !== undefined) out[i] = stored;
    else if (first.has(r.id)) same.push([i, first.get(r.id)!]);
    else {
      first.set(r.id, i);
      if (r.seq !== undefined && claimed.has(seqKey(r.agent, r.seq))) out[i] = 'seq-taken';
      else {
        if (r.seq !== undefined) claimed.add(seqKey(r.agent, r.seq));
        fresh.push(i);
      }
    }
  });
  const taken = await insertLeaves(tx, list, fresh);
  if (taken.size > 0) {
    // A position taken by the same receipt, stored by another process since the first read.
    const now = await storedById(
      tx,
      [...taken].map((i) => list[i]!.id),
    );
    for (const i of taken) out[i] = now.get(list[i]!.id) ?? 'seq-taken';
  }
  await insertReceipts(
    tx,
    list,
    fresh.filter((i) => !taken.has(i)),
    out,
  );
  for (const [i, f] of same) {
    const o = out[f];
    out[i] = o === 'inserted' ? stripSeq(list[f]!) : o;
  }
  return out.map((o, i) => {
    if (o === undefined) throw new VerifierError('STORE_FAILED', `receipt ${list[i]!.id} has no outcome`);
    return o;
  });
}

function stripSeq(r: StoredReceipt): StoredReceipt {
  const { seq: _, ...rest } = r;
  return rest;
}

/** Inserts the leaves of `fresh` receipts with a seq; returns those whose position was taken. */
async function insertLeaves(tx: Tx, list: readonly StoredReceipt[], fresh: number[]): Promise<Set<number>> {
  const withSeq = fresh.filter((i) => list[i]!.seq !== undefined);
  const got = new Set<string>();
  for (const part of chunks(withSeq)) {
    const rows = part.map((i) => {
      const r = list[i]!;
      return { agent: r.agent, seq: r.seq!, hash: leafHash(r.body) };
    });
    const back = await tx`INSERT INTO log_leaves ${tx(rows, 'agent', 'seq', 'hash')}
      ON CONFLICT DO NOTHING RETURNING agent, seq`;
    for (const b of back) got.add(seqKey(b.agent as string, b.seq as string));
  }
  return new Set(withSeq.filter((i) => !got.has(seqKey(list[i]!.agent, list[i]!.seq!))));
}

/**
 * Inserts receipts `which` (their leaves are in) and, in the same statement (a data-modifying
 * CTE), the key runs of those it inserted: one round trip per chunk. Sets their outcomes in `out`.
 */
async function insertReceipts(
  tx: Tx,
  list: readonly StoredReceipt[],
  which: number[],
  out: (PutOutcome | undefined)[],
): Promise<void> {
  const inserted = new Set<string>();
  for (const part of chunks(which)) {
    const rows = part.map((i) => {
      const r = list[i]!;
      return {
        id: r.id,
        request_id: r.requestId,
        agent: r.agent,
        key_id: r.keyId,
        body: r.body,
        sig: r.sig,
        received_at: r.receivedAt,
      };
    });
    const withSeq = part.map((i) => list[i]!).filter((r) => r.seq !== undefined);
    const ids = tx.array(withSeq.map((r) => r.id));
    const seqs = tx.array(withSeq.map((r) => String(r.seq)));
    // A key's run starts at the lowest seq it holds: of the receipts inserted here, and stored.
    const back = await tx`WITH ins AS (
        INSERT INTO receipts ${tx(rows, 'id', 'request_id', 'agent', 'key_id', 'body', 'sig', 'received_at')}
        ON CONFLICT DO NOTHING RETURNING id, key_id, agent
      ), runs AS (
        INSERT INTO key_runs (key_id, agent, first_seq)
        SELECT ins.key_id, min(ins.agent), min(u.seq)
        FROM ins JOIN unnest(${ids}::text[], ${seqs}::bigint[]) AS u(id, seq) ON u.id = ins.id
        GROUP BY ins.key_id
        ON CONFLICT (key_id) DO UPDATE SET first_seq = LEAST(key_runs.first_seq, excluded.first_seq)
      )
      SELECT id FROM ins`;
    for (const b of back) inserted.add(b.id as string);
  }
  const raced = which.filter((i) => !inserted.has(list[i]!.id));
  if (raced.length > 0) await settleRaced(tx, list, raced, out);
  for (const i of which) if (inserted.has(list[i]!.id)) out[i] = 'inserted';
}

/**
 * Receipts whose id another process stored between the first read and the insert: the stored
 * one is the outcome, and the leaf inserted for it here is taken back (it was never on the log).
 */
async function settleRaced(
  tx: Tx,
  list: readonly StoredReceipt[],
  raced: number[],
  out: (PutOutcome | undefined)[],
): Promise<void> {
  const stored = await storedById(
    tx,
    raced.map((i) => list[i]!.id),
  );
  for (const i of raced) {
    const r = list[i]!;
    const s = stored.get(r.id);
    if (s === undefined) throw new VerifierError('STORE_FAILED', `receipt ${r.id} vanished`);
    out[i] = s;
    if (r.seq !== undefined)
      // This transaction inserted that leaf (insertLeaves saw it come back): no other holds it.
      await tx`DELETE FROM log_leaves WHERE agent = ${r.agent} AND seq = ${r.seq}`;
  }
}
