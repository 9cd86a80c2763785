import {
  bytesEqual,
  type CoreErrorCode,
  checkSignedReceipt,
  fromBase64Url,
  type ReceiptCheck,
} from '@tmb/core';
import type { VerifierErrorCode } from '../errors.ts';
import type { AgentLock } from '../lock.ts';
import type { KeyRecord, ReceiptSession, Store, StoredReceipt } from '../store/types.ts';
import type { Waiters } from '../waiters.ts';
import { receiptLocked } from './keys.ts';

/** One refused receipt of a batch. The agent never retries these. */
export interface Rejection {
  index: number;
  code: CoreErrorCode | VerifierErrorCode;
  message: string;
}

/** What a receipt push needs of the verifier. */
export interface ReceiptIntake {
  store: Store;
  /** Enrolled keys read so far, by key id (enrolments are never changed or removed). */
  keys: Map<string, KeyRecord>;
  /** The per-agent lock (lock.ts), taken on receiptLockKey while log positions are decided and stored. */
  lock: AgentLock;
  /** Told of every newly stored receipt id (long-polls waiting for it). */
  waiters: Waiters;
  /** The clock, Unix ms. */
  now: () => number;
}

/** The outcome of one push: counts of stored and already-stored receipts, and the refusals by index. */
export interface PushOutcome {
  accepted: number;
  duplicate: number;
  rejected: Rejection[];
}

/**
 * Verifies each receipt of a batch pushed by `agent` (the caller checked its token) on arrival
 * (format, signature by a key enrolled for the pushing agent, a log position its key may take)
 * and stores the good ones by id. Idempotent: a receipt already stored with the same bytes counts
 * as a duplicate. `receipts` are the wire objects as sent (attacker-controlled).
 *
 * Log positions (seq) belong to runs: the agent enrols a fresh key at each start, so its keys in
 * enrolment order sign consecutive stretches of its log. A key that a later key has superseded
 * may still deliver its backlog (seq below the first position any later key holds) but never
 * take positions from there on (RECEIPT_KEY_SUPERSEDED), and a position held by another receipt
 * is never overwritten (RECEIPT_SEQ_TAKEN): no stray key can fill the agent's log with receipts
 * its checkpoints do not cover and keep its real receipts from ever being included.
 */
export async function pushReceipts(
  d: ReceiptIntake,
  agent: string,
  receipts: readonly unknown[],
): Promise<PushOutcome> {
  const rejected: Rejection[] = [];
  const now = d.now();
  // The log position of each receipt that names this agent: a refused one is recorded, so the
  // verifier can say in its own words why the agent's log run ended (docs/evidence.md).
  const seqOf = new Map<number, number>();
  const candidates = await candidatesOf(d, agent, receipts, now, seqOf, rejected);
  // Positions are decided and stored alone for this agent (lock.ts): no push or enrolment between.
  // `fn` may run again (the store retries a transaction the database aborted): it keeps its
  // refusals to itself, and they join `rejected` once, from the run that committed.
  const [good, outcomes, superseded] = await receiptLocked(d.lock, d.store, agent, async (s) => {
    const superseded: Rejection[] = [];
    const good = await runCheck(s, agent, candidates, superseded);
    return [good, await s.putReceipts(good.map((g) => g.receipt)), superseded] as const;
  });
  rejected.push(...superseded);
  let accepted = 0;
  let duplicate = 0;
  for (const [i, { index, receipt }] of good.entries()) {
    const outcome = outcomes[i]!;
    if (outcome === 'seq-taken') {
      rejected.push({
        index,
        code: 'RECEIPT_SEQ_TAKEN',
        message: `another receipt of agent ${JSON.stringify(agent)} holds log position ${receipt.seq}`,
      });
    } else if (outcome === 'inserted') {
      accepted++;
      d.waiters.announce(receipt.id);
    } else if (bytesEqual(outcome.body, receipt.body)) {
      duplicate++;
    } else {
      rejected.push({
        index,
        code: 'RECEIPT_CONFLICT',
        message: `another receipt is stored under id ${receipt.id}`,
      });
    }
  }
  rejected.sort((a, b) => a.index - b.index);
  const refusals = rejected.flatMap((r) => {
    const seq = seqOf.get(r.index);
    return seq === undefined ? [] : [{ seq, code: r.code, at: now }];
  });
  if (refusals.length > 0) await d.store.putRefusals(agent, refusals);
  return { accepted, duplicate, rejected };
}

/**
 * The receipts of a batch that pass their own checks (format, signature, enrolled key of this
 * agent), ready to store; the others go to `rejected`. Records each receipt's seq in `seqOf`.
 */
async function candidatesOf(
  d: ReceiptIntake,
  agent: string,
  receipts: readonly unknown[],
  now: number,
  seqOf: Map<number, number>,
  rejected: Rejection[],
): Promise<Candidate[]> {
  const candidates: Candidate[] = [];
  for (const [index, wire] of receipts.entries()) {
    const checked = await check(d, wire);
    const { body: rb, bytes, checks } = checked;
    if (rb !== null && rb.agent === agent) seqOf.set(index, rb.seq);
    const failed = checks.find((c) => c.status === 'fail');
    const key = rb === null ? undefined : d.keys.get(rb.key);
    if (failed !== undefined || rb === null || bytes === null || key === undefined) {
      rejected.push({
        index,
        code: failed?.code ?? 'RECEIPT_MALFORMED',
        message: failed?.detail ?? 'unreadable',
      });
      continue;
    }
    if (rb.agent !== agent || key.agent !== agent) {
      rejected.push({
        index,
        code: key.agent !== agent ? 'AGENT_KEY_NOT_ENROLLED' : 'RECEIPT_AGENT_MISMATCH',
        message: `receipt names agent ${JSON.stringify(rb.agent)}, key enrolled for ${JSON.stringify(key.agent)}, pushed by ${JSON.stringify(agent)}`,
      });
      continue;
    }
    const sig = fromBase64Url((wire as { sig: string }).sig);
    candidates.push({
      index,
      receipt: {
        id: rb.id,
        requestId: rb.request.id,
        agent,
        keyId: rb.key,
        body: bytes,
        sig,
        receivedAt: now,
        seq: rb.seq,
      },
    });
  }
  return candidates;
}

type Candidate = { index: number; receipt: StoredReceipt };

/**
 * Keeps the candidates whose key may take their log position; refuses the others with
 * RECEIPT_KEY_SUPERSEDED. A key's limit is the lowest position held (stored, or in this batch)
 * by any key of the agent enrolled after it; the latest key (the current run's) has none.
 */
async function runCheck(
  store: ReceiptSession,
  agent: string,
  candidates: Candidate[],
  rejected: Rejection[],
): Promise<Candidate[]> {
  if (candidates.length === 0) return candidates;
  // Both sent at once (one write on PostgreSQL).
  const [keys, first] = await Promise.all([store.agentKeys(agent), store.firstSeqs(agent)]);
  const order = keys.map((k) => k.keyId);
  for (const { receipt } of candidates) {
    const seq = receipt.seq ?? Number.POSITIVE_INFINITY;
    if (seq < (first.get(receipt.keyId) ?? Number.POSITIVE_INFINITY)) first.set(receipt.keyId, seq);
  }
  // limit[i] = min first position of keys i+1..n-1.
  const limit = new Map<string, number>();
  let below = Number.POSITIVE_INFINITY;
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i]!;
    limit.set(id, below);
    below = Math.min(below, first.get(id) ?? Number.POSITIVE_INFINITY);
  }
  return candidates.filter(({ index, receipt }) => {
    const max = limit.get(receipt.keyId) ?? Number.POSITIVE_INFINITY;
    if (receipt.seq === undefined || receipt.seq < max) return true;
    rejected.push({
      index,
      code: 'RECEIPT_KEY_SUPERSEDED',
      message: `key ${receipt.keyId.slice(0, 16)}… was superseded by a later key of agent ${JSON.stringify(agent)} holding log positions from ${max}; receipt #${receipt.seq} is past them`,
    });
    return false;
  });
}

/**
 * checkSignedReceipt with keys from the verifier's key cache. Enrolled keys never change, so a
 * key is read from the store once, on its first miss, and the receipt is checked again.
 */
async function check(d: ReceiptIntake, wire: unknown): Promise<ReceiptCheck> {
  let missing: string | undefined;
  const resolve = (id: string) => {
    const k = d.keys.get(id);
    if (k === undefined) missing = id;
    return k?.key;
  };
  const first = checkSignedReceipt(wire, resolve);
  if (missing === undefined) return first;
  const stored = await d.store.getKey(missing);
  if (stored === undefined) return first;
  d.keys.set(stored.keyId, stored);
  return checkSignedReceipt(wire, resolve);
}
