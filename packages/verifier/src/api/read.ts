import { createHash } from 'node:crypto';
import {
  type CanonicalValue,
  type Check,
  canonicalBytes,
  fromBase64Url,
  levelOf,
  type ReceiptBody,
  receiptServed,
} from '@tmb/core';
import { type HostSegment, servedCheck, upstreamCheck, weightsCheck } from '@tmb/core/host';
import type { CompiledRegistry } from '@tmb/core/registry';
import { appraise, type ReceiptResult } from '../appraise.ts';
import { loadAttest } from '../attest/state.ts';
import { l1Checks } from '../attest/verdict.ts';
import { TokenAuth } from '../auth.ts';
import type { ResultBinding } from '../ear.ts';
import { VerifierError } from '../errors.ts';
import { sendError, sendJson } from '../http/respond.ts';
import type { StoredReceipt } from '../store/types.ts';
import type { Context } from './context.ts';

const RECEIPT_ID = /^[0-9a-f]{32}$/;

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
  if (!RECEIPT_ID.test(id)) {
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
 * A stored receipt's answer: the verdict recomputed from its bytes and the EAR that signs it with
 * its binding; `extra` adds members of the binding (a bundle's evidence digest, api/bundle.ts).
 */
export async function result(
  ctx: Context,
  stored: StoredReceipt,
  extra: Pick<ResultBinding, 'evidenceSha256'> = {},
): Promise<ReceiptResult> {
  const key = await ctx.store.getKey(stored.keyId);
  const r = appraise(stored, key);
  const l1 = await l1Checks(ctx.store, ctx.attest, stored, r.body);
  const checks = [...r.verdict.checks, ...l1.checks];
  const seg = l1.segment;
  const registry = ctx.host?.refs.registry ?? null;
  // weights.allowed, host.engine, host.agent, telemetry.tool: from the kernel log as of the
  // quote that judges the receipt; for an agent without a TPM, from its own (asserted) log.
  if (seg !== undefined && r.body) {
    if (registry !== null) checks.push(...hostChecks(seg, r.body, registry));
  } else if (ctx.host && r.body && l1.noAk) checks.push(...(await ctx.host.view(stored.agent))(r.body));
  const telemetry = ctx.telemetry?.check(r.body, checks);
  if (telemetry !== undefined) checks.push(telemetry);
  const verdict = {
    ...r.verdict,
    ...(seg ? { host: seg.host } : {}),
    ...(l1.tpm ? { tpm: l1.tpm } : {}),
    checks,
    level: levelOf(checks),
    ok: checks.every((c) => c.status !== 'fail'),
  };
  // What the signed result binds besides the verdict: every unsigned member of this answer a
  // client uses (docs/result.md, "Bound members").
  // l1Checks read the agent's attest state already (noAk: it has none).
  // (A second read for TPM agents: l1Checks does not return the state it read.)
  const attest = l1.noAk ? undefined : await loadAttest(ctx.store, stored.agent);
  const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const binding: ResultBinding = {
    receiptSha256: hex(stored.body),
    agentKey: r.agentKey,
    enrolment: key ? { agent: key.agent, keyId: key.keyId, enrolledAt: key.enrolledAt } : null,
    attestationSha256: l1.attestation ? attestationSha256(l1.attestation) : null,
    ak:
      attest?.akName && attest.ekPublic
        ? {
            name: attest.akName,
            activatedAt: attest.activatedAt,
            ekPublicSha256: hex(fromBase64Url(attest.ekPublic)),
          }
        : null,
  };
  return {
    ...r,
    verdict,
    ...(l1.attestation ? { attestation: l1.attestation } : {}),
    result: await ctx.signer.issue(verdict, { ...binding, ...extra }),
  };
}

/**
 * Hex SHA-256 of the canonical JSON of an answer's attestation, as the client parses it from the
 * JSON answer (members left undefined are not sent); null when it is not canonical JSON (a
 * non-integer number): the client then fails verifier.binding rather than this read failing.
 */
function attestationSha256(a: object): string | null {
  try {
    const bytes = canonicalBytes(JSON.parse(JSON.stringify(a)) as CanonicalValue);
    return createHash('sha256').update(bytes).digest('hex');
  } catch {
    return null;
  }
}

/** The registry checks of a receipt from the segment judging it (docs/result.md). */
function hostChecks(seg: HostSegment, body: ReceiptBody, reg: CompiledRegistry): Check[] {
  const weights: Check =
    seg.host.kernel === 'absent'
      ? {
          name: 'weights.allowed',
          status: 'skipped',
          detail: 'no kernel IMA log: no weights were measured by the kernel',
        }
      : weightsCheck(body.model.requested, seg.weights, reg);
  return [
    weights,
    { name: 'host.engine', ...seg.engine },
    { name: 'host.agent', ...seg.agent },
    { name: 'telemetry.tool', ...seg.tool },
    upstreamCheck(body.model.requested, seg.upstream, reg),
    servedCheck(receiptServed(body)?.weights ?? null, seg.weights, seg.host.kernel !== 'absent'),
  ];
}

/** GET /v1/verifier-key: the public key that signs results, as a JWK. */
export async function getVerifierKey(ctx: Context): Promise<void> {
  sendJson(ctx.res, 200, ctx.signer.jwk);
}
