import type { Context } from '../api/context.ts';
import { VerifierError } from '../errors.ts';
import { asObject, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { checkTelemetryExtension } from '../telemetry/extension.ts';
import { appraiseEvidence, type Evidence } from './appraise.ts';
import { agentRequest, bytesField, reject } from './enroll.ts';
import { type AgentAttest, loadAttest, saveAttest } from './state.ts';

/** The origin of an agent's checkpoints (agent options.ts logOrigin; docs/evidence.md). */
export function logOrigin(agent: string): string {
  return `tmb/agent/${agent}`;
}

async function activated(ctx: Context, agent: string): Promise<AgentAttest> {
  const state = await loadAttest(ctx.store, agent);
  if (state === undefined)
    throw new VerifierError('AK_NOT_ENROLLED', `agent ${JSON.stringify(agent)} has no activated AK`);
  return state;
}

/**
 * POST /v1/attest/nonce {agent}: a fresh single-use nonce for the next quote, and where the
 * agent's evidence must start: `logFrom` (measurement-log index, for TPM resetCount
 * `resetCount`) and `checkpointSize` (the latest quoted checkpoint, for the consistency proof).
 */
export async function issueNonce(ctx: Context): Promise<void> {
  const { agent } = await agentRequest(ctx);
  const state = await activated(ctx, agent);
  const { nonce, expiresAt } = ctx.attest.nonces.issue(agent);
  sendJson(ctx.res, 200, {
    nonce,
    expiresAt: new Date(expiresAt).toISOString(),
    logFrom: state.ima?.nextIndex ?? 0,
    resetCount: state.ima?.resetCount ?? null,
    checkpointSize: state.checkpoint?.size ?? null,
  });
}

/**
 * POST /v1/attest/evidence: appraises a quote over a checkpoint (docs/evidence.md). 200
 * `{ok: true, checks}` once every check passed, and the checkpoint becomes the agent's latest
 * quoted one; 422 EVIDENCE_REJECTED `{error, checks}` naming the failed checks otherwise (the
 * nonce is spent either way).
 */
export async function postEvidence(ctx: Context): Promise<void> {
  const { agent, body } = await agentRequest(ctx);
  const state = await activated(ctx, agent);
  const quote = asObject(body.quote, 'quote');
  const log = asObject(body.log, 'log');
  const from = log.from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
    throw new VerifierError('BODY_MALFORMED', '"log.from" must be a non-negative integer');
  const nonce = stringField(body, 'nonce', 64);
  const ev: Evidence = {
    nonce,
    note: stringField(body, 'checkpoint', 128 * 1024),
    attest: bytesField(quote, 'attest', 4096),
    signature: bytesField(quote, 'signature', 4096),
    pcrs: bytesField(quote, 'pcrs', 64 * 1024),
    logFrom: from,
    log: bytesField(log, 'entries', 8 << 20),
    consistency: body.consistency ?? null,
  };
  const nonceRefusal = ctx.attest.nonces.consume(agent, nonce);
  const keys = (await ctx.store.listKeys()).filter((k) => k.agent === agent);
  // Grow the verifier's own tree of this agent's receipts to the size the note claims, if it parses.
  const claimed = /^[^\n]*\n(0|[1-9][0-9]{0,15})\n/.exec(ev.note);
  const size = claimed ? Number(claimed[1]) : 0;
  const tree = await ctx.attest.trees.upTo(agent, size);
  const { checks, next, accepted } = appraiseEvidence({
    state,
    ev,
    nonceRefusal,
    keys,
    origin: logOrigin(agent),
    treeRoot: (n) => (tree.size >= n ? tree.root(n) : null),
    ...(ctx.telemetry
      ? { telemetry: (line: string) => checkTelemetryExtension(ctx.telemetry!.store, agent, line) }
      : {}),
  });
  if (next === null) {
    reject(ctx, checks);
    return;
  }
  await saveAttest(ctx.store, agent, next);
  // Quoted measurement-log entries feed the host appraisal (weights, engine, agent build).
  if (ctx.host && next.ima) await ctx.host.recordQuoted(agent, accepted, next.ima.resetCount);
  // Weights, engine and agent build measured under this quote (docs/registry.md).
  if (next.ima)
    await ctx.host?.recordQuotedLog(agent, ev.log, ev.logFrom, next.ima.nextIndex, next.ima.resetCount);
  sendJson(ctx.res, 200, { ok: true, checks });
}
