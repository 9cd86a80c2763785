import { isReceiptId } from '@tmb/core';
import { bundleEvidence } from '../bundle/evidence.ts';
import { VerifierError } from '../errors.ts';
import { sendError, sendJson } from '../http/respond.ts';
import { pushReceipts } from '../receipt/push.ts';
import type { Context } from './context.ts';
import { result } from './read.ts';
import { agentBody } from './request.ts';

/**
 * POST /v1/receipts `{agent, receipts: [...]}`: a batch of signed receipts (receipt/push.ts
 * pushReceipts). 200 `{accepted, duplicate, rejected: [{index, code, message}]}`.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE | BATCH_TOO_LARGE
 */
export async function postReceipts(ctx: Context): Promise<void> {
  const { agent, body } = await agentBody(ctx, { what: 'batch' });
  const receipts = body.receipts;
  if (!Array.isArray(receipts)) throw new VerifierError('BODY_MALFORMED', '"receipts" must be an array');
  if (receipts.length > ctx.options.maxBatch) {
    throw new VerifierError(
      'BATCH_TOO_LARGE',
      `${receipts.length} receipts, at most ${ctx.options.maxBatch}`,
    );
  }
  const { accepted, duplicate, rejected } = await pushReceipts(
    { store: ctx.store, keys: ctx.keys, lock: ctx.attest.lock, waiters: ctx.waiters, now: ctx.options.now },
    agent,
    receipts,
  );
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

/**
 * GET /v1/receipts/:id/bundle: the offline evidence bundle of a receipt (docs/bundle.md; the
 * evidence from bundle/evidence.ts, the result bound to its digest), public like
 * GET /v1/receipts/:id. 404 RECEIPT_NOT_FOUND for an unknown receipt, 404 BUNDLE_NOT_READY while
 * no quote this verifier archived covers it (an agent without a TPM never gets one).
 */
export async function getBundle(ctx: Context, id: string): Promise<void> {
  const stored = isReceiptId(id) ? await ctx.store.getReceipt(id) : undefined;
  if (stored === undefined) {
    sendError(ctx.res, 'RECEIPT_NOT_FOUND', `no receipt ${id} has reached this verifier`);
    return;
  }
  const deps = { store: ctx.store, attest: ctx.attest, ...(ctx.host ? { refs: ctx.host.refs } : {}) };
  const b = await bundleEvidence(deps, stored);
  if (!b.ok) {
    sendError(ctx.res, 'BUNDLE_NOT_READY', b.message);
    return;
  }
  const r = await result(ctx, stored, { evidenceSha256: b.evidenceSha256 });
  sendJson(ctx.res, 200, { v: 1, type: 'tmb.bundle', evidence: b.evidence, result: r.result });
}
