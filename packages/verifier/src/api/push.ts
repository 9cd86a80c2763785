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
 * enrolled for the pushing agent) and stores the good ones by id. Idempotent: a receipt
 * already stored with the same bytes counts as a duplicate.
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
  const good: { index: number; receipt: StoredReceipt }[] = [];
  const now = Date.now();
  for (const [index, wire] of receipts.entries()) {
    const checked = await check(ctx, wire);
    const { body: rb, bytes, checks } = checked;
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
    good.push({
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
  const outcomes = await ctx.store.putReceipts(good.map((g) => g.receipt));
  for (const [i, { index, receipt }] of good.entries()) {
    const outcome = outcomes[i]!;
    if (outcome === 'inserted') {
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
  sendJson(ctx.res, 200, { accepted, duplicate, rejected });
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
