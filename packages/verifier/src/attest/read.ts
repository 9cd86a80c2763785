import { CoreError } from '@tmb/core';
import { encodeConsistencyProof } from '@tmb/core/log';
import type { Context } from '../api/context.ts';
import { VerifierError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import { AGENT_NAME } from '../options.ts';
import { currentRun } from './runs.ts';
import { loadAttest } from './state.ts';

function agentOf(raw: string): string {
  const agent = decodeURIComponent(raw);
  if (!AGENT_NAME.test(agent)) throw new VerifierError('BODY_MALFORMED', 'bad agent name');
  return agent;
}

/**
 * GET /v1/agents/:agent/checkpoint: the agent's latest quoted checkpoint, the quote over it
 * and its nonce, the AK public area and the application PCR, and how many kernel IMA entries
 * quotes have covered in the current boot (`kernelEntries`, null without a kernel log) (docs/evidence.md). 404
 * ROUTE_NOT_FOUND when the agent has none.
 */
export async function getQuotedCheckpoint(ctx: Context, raw: string): Promise<void> {
  const agent = agentOf(raw);
  const s = await loadAttest(ctx.store, agent);
  if (s?.checkpoint == null || s.quote === null)
    throw new VerifierError('ROUTE_NOT_FOUND', `agent ${JSON.stringify(agent)} has no quoted checkpoint`);
  sendJson(ctx.res, 200, {
    agent,
    checkpoint: s.checkpoint.note,
    size: s.checkpoint.size,
    run: currentRun(s),
    keyId: s.checkpoint.keyId,
    quote: s.quote,
    akPublic: s.akPublic,
    pcr: s.pcr,
    kernelEntries: s.kernel?.ima.nextIndex ?? null,
    acceptedAt: s.acceptedAt === null ? null : new Date(s.acceptedAt).toISOString(),
  });
}

/**
 * GET /v1/agents/:agent/proof/consistency?from=M&to=N: a consistency proof over the receipts the
 * verifier holds for the agent, within its current log run (docs/proofs.md, "Log runs"); `to`
 * defaults to the latest quoted size.
 * 400 PROOF_RANGE_INVALID (as BODY_MALFORMED) past what the verifier holds.
 */
export async function getConsistency(ctx: Context, raw: string): Promise<void> {
  const agent = agentOf(raw);
  const s = await loadAttest(ctx.store, agent);
  const num = (name: string, dflt?: number) => {
    const v = ctx.url.searchParams.get(name);
    if (v === null && dflt !== undefined) return dflt;
    if (v === null || !/^(0|[1-9][0-9]{0,15})$/.test(v))
      throw new VerifierError('BODY_MALFORMED', `${name} must be a whole number`);
    return Number(v);
  };
  const to = num('to', s?.checkpoint?.size ?? 0);
  const from = num('from');
  const run = s === undefined ? { run: 0, base: 0 } : currentRun(s);
  try {
    if (from > to) throw new CoreError('PROOF_RANGE_INVALID', `need from <= to, got ${from} > ${to}`);
    sendJson(
      ctx.res,
      200,
      encodeConsistencyProof(await ctx.attest.trees.consistencyProof(agent, run, from, to)),
    );
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    throw new VerifierError('BODY_MALFORMED', `${err.code}: ${err.message}`);
  }
}
