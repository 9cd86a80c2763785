import {
  bytesEqual,
  type CoreErrorCode,
  checkSignedReceipt,
  fromBase64Url,
  type ReceiptCheck,
} from '@tmb/core';
import { TokenAuth } from '../auth.ts';
import { VerifierError, type VerifierErrorCode } from '../errors.ts';
import { asObject, readJson, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { StoredReceipt } from '../store/types.ts';
import type { Context } from './context.ts';

/** One refused receipt of a batch. The agent never retries these. */
export interface Rejection {
  index: number;
  code: CoreErrorCode | VerifierErrorCode;
  message: string;
}

/**
 * POST /v1/receipts: verifies each receipt of a batch on arrival (format, signature by a key
 * enrolled for the pushing agent, a log position its key may take) and stores the good ones by
 * id. Idempotent: a receipt already stored with the same bytes counts as a duplicate.
 *
 * Log positions (seq) belong to runs: the agent enrols a fresh key at each start, so its keys in
 * enrolment order sign consecutive stretches of its log. A key that a later key has superseded
 * may still deliver its backlog (seq below the first position any later key holds) but never
 * take positions from there on (RECEIPT_KEY_SUPERSEDED), and a position held by another receipt
 * is never overwritten (RECEIPT_SEQ_TAKEN): no stray key can fill the agent's log with receipts
 * its checkpoints do not cover and keep its real receipts from ever being included.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE | BATCH_TOO_LARGE
 */
export async function push(ctx: Context): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const body = asObject(await readJson(ctx.req, ctx.options.maxBodyBytes), 'batch');
  const agent = stringField(body, 'agent', 128);
  TokenAuth.allow(grant, agent);
  const receipts = body.receipts;
  if (!Array.isArray(receipts)) throw new VerifierError('BODY_MALFORMED', '"receipts" must be an array');
  if (receipts.length > ctx.options.maxBatch) {
    throw new VerifierError(
      'BATCH_TOO_LARGE',
      `${receipts.length} receipts, at most ${ctx.options.maxBatch}`,
    );
  }
  let accepted = 0;
  let duplicate = 0;
  const rejected: Rejection[] = [];
  const candidates: { index: number; receipt: StoredReceipt }[] = [];
  const now = ctx.options.now();
  // The log position of each receipt that names this agent: a refused one is recorded, so the
  // verifier can say in its own words why the agent's log run ended (docs/evidence.md).
  const seqOf = new Map<number, number>();
  for (const [index, wire] of receipts.entries()) {
    const checked = await check(ctx, wire);
    const { body: rb, bytes, checks } = checked;
    if (rb !== null && rb.agent === agent) seqOf.set(index, rb.seq);
    const failed = checks.find((c) => c.status === 'fail');
    const key = rb === null ? undefined : ctx.keys.get(rb.key);
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
  // Positions are decided and stored alone for this agent (lock.ts): no push or enrolment between.
  const [good, outcomes] = await ctx.attest.lock.run(agent, async () => {
    const good = await runCheck(ctx, agent, candidates, rejected);
    return [good, await ctx.store.putReceipts(good.map((g) => g.receipt))] as const;
  });
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
      ctx.waiters.announce(receipt.id);
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
  if (refusals.length > 0) await ctx.store.putRefusals(agent, refusals);
  ctx.metrics.receipts(accepted, duplicate, rejected.length); // log and /metrics (metrics.ts)
  ctx.log[rejected.length > 0 ? 'warn' : 'debug']('receipts_pushed', {
    agent,
    accepted,
    duplicate,
    rejected: rejected.length,
    codes: [...new Set(rejected.map((r) => r.code))],
  });
  sendJson(ctx.res, 200, { accepted, duplicate, rejected });
}

type Candidate = { index: number; receipt: StoredReceipt };

/**
 * Keeps the candidates whose key may take their log position; refuses the others with
 * RECEIPT_KEY_SUPERSEDED. A key's limit is the lowest position held (stored, or in this batch)
 * by any key of the agent enrolled after it; the latest key (the current run's) has none.
 */
async function runCheck(
  ctx: Context,
  agent: string,
  candidates: Candidate[],
  rejected: Rejection[],
): Promise<Candidate[]> {
  if (candidates.length === 0) return candidates;
  const order = (await ctx.store.agentKeys(agent)).map((k) => k.keyId);
  const first = await ctx.store.firstSeqs(agent);
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
async function check(ctx: Context, wire: unknown): Promise<ReceiptCheck> {
  let missing: string | undefined;
  const resolve = (id: string) => {
    const k = ctx.keys.get(id);
    if (k === undefined) missing = id;
    return k?.key;
  };
  const first = checkSignedReceipt(wire, resolve);
  if (missing === undefined) return first;
  const stored = await ctx.store.getKey(missing);
  if (stored === undefined) return first;
  ctx.keys.set(stored.keyId, stored);
  return checkSignedReceipt(wire, resolve);
}
