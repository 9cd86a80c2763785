import { isReceiptId } from '@tmb/core';
import type { ReceiptResult } from '../appraise/receipt.ts';
import { composeVerdict, type VerdictSources } from '../appraise/verdict.ts';
import { TokenAuth } from '../auth.ts';
import type { ResultBinding } from '../ear.ts';
import { VerifierError } from '../errors.ts';
import { sendError, sendJson } from '../http/respond.ts';
import type { StoredReceipt } from '../store/types.ts';
import type { Context } from './context.ts';

/** Most long-polls held at once; past it a GET answers at once, as if `wait` were 0. Each held
 * poll is an open socket and a timer: this bounds what a flood of them can pin. */
const MAX_WAITERS = 10_000;

/** Most results one request id lookup returns (request ids are the provider's and may repeat). */
const MAX_BY_REQUEST = 100;

/**
 * GET /v1/receipts/:id[?wait=MS]: the stored receipt and a verdict recomputed from its stored
 * bytes. With `wait`, a receipt not pushed yet is waited for, up to min(MS, maxWaitMs).
 * 404 RECEIPT_NOT_FOUND when it is not there (in time).
 * @throws VerifierError BODY_MALFORMED for a bad `wait`
 */
export async function getReceipt(ctx: Context, id: string): Promise<void> {
  const waitParam = ctx.url.searchParams.get('wait');
  let wait = 0;
  if (waitParam !== null) {
    if (!/^[0-9]{1,9}$/.test(waitParam)) {
      throw new VerifierError('BODY_MALFORMED', 'wait must be a whole number of milliseconds');
    }
    wait = Math.min(Number(waitParam), ctx.options.maxWaitMs);
  }
  if (!isReceiptId(id)) {
    sendError(ctx.res, 'RECEIPT_NOT_FOUND', 'a receipt id is 32 lower-case hex digits');
    return;
  }
  let stored = await ctx.store.getReceipt(id);
  if (stored === undefined && wait > 0 && ctx.waiters.size < MAX_WAITERS) {
    // Announced between the read above and registering the wait is covered by reading again after it.
    const woken = ctx.waiters.wait(id, wait, ctx.signal);
    stored = await ctx.store.getReceipt(id);
    if (stored === undefined && (await woken)) stored = await ctx.store.getReceipt(id);
  }
  if (ctx.signal.aborted && ctx.res.destroyed) return;
  if (stored === undefined) {
    sendError(ctx.res, 'RECEIPT_NOT_FOUND', `no receipt ${id} has reached this verifier`);
    return;
  }
  sendJson(ctx.res, 200, await result(ctx, stored));
}

/**
 * GET /v1/requests/:requestId: every stored receipt for a provider request id, oldest first.
 * Needs a token (request ids and paths are the provider's clients' business): a reader token
 * sees every agent's, an agent token only its own agent's receipts.
 * @throws VerifierError TOKEN_INVALID
 */
export async function getByRequest(ctx: Context, requestId: string): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const rows = await ctx.store.byRequestId(requestId, MAX_BY_REQUEST);
  const results: ReceiptResult[] = [];
  for (const row of rows) if (TokenAuth.canRead(grant, row.agent)) results.push(await result(ctx, row));
  sendJson(ctx.res, 200, { results });
}

/**
 * GET /v1/agents: enrolled agents and their keys. Needs a token: a reader token lists every
 * agent, an agent token only its own.
 * @throws VerifierError TOKEN_INVALID
 */
export async function getAgents(ctx: Context): Promise<void> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const agents = new Map<string, { keyId: string; enrolledAt: string }[]>();
  const keys = grant.kind === 'agent' ? await ctx.store.agentKeys(grant.agent) : await ctx.store.listKeys();
  for (const k of keys) {
    const list = agents.get(k.agent) ?? [];
    list.push({ keyId: k.keyId, enrolledAt: new Date(k.enrolledAt).toISOString() });
    agents.set(k.agent, list);
  }
  sendJson(ctx.res, 200, { agents: [...agents].map(([agent, keys]) => ({ agent, keys })) });
}

/**
 * A stored receipt's answer: the verdict composed from its stored bytes by appraise/verdict.ts
 * with this verifier's services, and the EAR that signs it; `extra` adds members of the binding
 * (a bundle's evidence digest, the bundle route).
 */
export function result(
  ctx: Context,
  stored: StoredReceipt,
  extra: Pick<ResultBinding, 'evidenceSha256'> = {},
): Promise<ReceiptResult> {
  return composeVerdict(verdictSources(ctx), stored, extra);
}

/** What a verdict is composed from, out of a request's context. */
function verdictSources(ctx: Context): VerdictSources {
  return {
    store: ctx.store,
    attest: ctx.attest,
    host: ctx.host,
    telemetry: ctx.telemetry,
    signer: ctx.signer,
  };
}

/** GET /v1/verifier-key: the public key that signs results, as a JWK. */
export async function getVerifierKey(ctx: Context): Promise<void> {
  sendJson(ctx.res, 200, ctx.signer.jwk);
}
