// The per-agent endpoints under /v1/agents (docs/api.md): receipt-key enrolment and the agent's
// quoted checkpoint and consistency proofs. GET /v1/agents itself is in read.ts.

import { CoreError, fromBase64Url } from '@tmb/core';
import { encodeConsistencyProof } from '@tmb/core/log';
import { currentRun } from '../attest/runs.ts';
import { loadAttest } from '../attest/state.ts';
import { VerifierError } from '../errors.ts';
import { stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { enrolAgentKey } from '../receipt/keys.ts';
import type { Context } from './context.ts';
import { agentBody, pathAgent } from './request.ts';

/**
 * POST /v1/agents/enroll `{agent, key, proof}`: enrols an agent's receipt-signing key after
 * checking the token and the proof that the caller holds the private key (receipt/keys.ts).
 * 200 `{agent, keyId}`.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | ENROL_PROOF_INVALID | ENROL_KEY_CONFLICT
 */
export async function postAgentKey(ctx: Context): Promise<void> {
  const { agent, body } = await agentBody(ctx, {
    what: 'enrolment',
    badName: 'agent name must be 1 to 128 printable ASCII characters, no spaces',
  });
  const key = decode(stringField(body, 'key', 64), 32, 'key');
  const proof = decode(stringField(body, 'proof', 128), 64, 'proof');
  const keyId = await enrolAgentKey(
    { store: ctx.store, lock: ctx.attest.lock, now: ctx.options.now },
    agent,
    key,
    proof,
  );
  ctx.log.info('agent_key_enrolled', { agent, keyId });
  sendJson(ctx.res, 200, { agent, keyId });
}

/** base64url text of exactly `length` bytes. @throws VerifierError BODY_MALFORMED naming `field` */
function decode(text: string, length: number, field: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch (cause) {
    throw new VerifierError('BODY_MALFORMED', `"${field}" is not unpadded base64url`, { cause });
  }
  if (bytes.length !== length) {
    throw new VerifierError('BODY_MALFORMED', `"${field}" must be ${length} bytes, found ${bytes.length}`);
  }
  return bytes;
}

/**
 * GET /v1/agents/:agent/checkpoint: the agent's latest quoted checkpoint, the quote over it
 * and its nonce, the AK public area and the application PCR, and how many kernel IMA entries
 * quotes have covered in the current boot (`kernelEntries`, null without a kernel log) (docs/evidence.md). 404
 * ROUTE_NOT_FOUND when the agent has none.
 */
export async function getQuotedCheckpoint(ctx: Context, raw: string): Promise<void> {
  const agent = pathAgent(raw);
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
  const agent = pathAgent(raw);
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
