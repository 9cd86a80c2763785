import { decodeReceiptBody, isReceiptId, type ReceiptBody } from '@tmb/core';
import { VerifierError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import type { TelemetryService } from '../telemetry/service.ts';
import type { Context } from './context.ts';
import { agentBody } from './request.ts';

function service(ctx: Context): TelemetryService {
  if (ctx.telemetry === undefined) throw new VerifierError('ROUTE_NOT_FOUND', 'telemetry is not enabled');
  return ctx.telemetry;
}

/**
 * POST /v1/telemetry `{"agent", "batches": [{seq, prevHead, head, gpu, proc}]}`: an agent's
 * digest-chained sample batches (docs/api.md; TelemetryService.ingest). Same bearer token as
 * receipts. 200 `{"accepted", "duplicate", "chain", "seq" (next due), "head"}`.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE |
 *   BATCH_TOO_LARGE | TELEMETRY_CHAIN_BROKEN | TELEMETRY_BATCH_TAMPERED
 */
export async function postTelemetry(ctx: Context): Promise<void> {
  const t = service(ctx);
  const { agent, body } = await agentBody(ctx, { what: 'telemetry push' });
  sendJson(ctx.res, 200, await t.ingest(agent, body.batches));
}

/**
 * GET /v1/telemetry/receipts/:id: what the verifier found for one stored receipt's telemetry
 * (the check, the profile, the score and the request's features), for calibration and debugging.
 * 404 ROUTE_NOT_FOUND for an id that is not a stored receipt with a decodable body.
 */
export async function getTelemetryFinding(ctx: Context, id: string): Promise<void> {
  const t = service(ctx);
  if (!isReceiptId(id))
    throw new VerifierError('ROUTE_NOT_FOUND', 'a receipt id is 32 lower-case hex digits');
  const body = await storedBody(ctx, id);
  if (body === null) throw new VerifierError('ROUTE_NOT_FOUND', `no decodable receipt ${id}`);
  sendJson(ctx.res, 200, await t.find(body, true));
}

async function storedBody(ctx: Context, id: string): Promise<ReceiptBody | null> {
  const stored = await ctx.store.getReceipt(id);
  if (stored === undefined) return null;
  try {
    return decodeReceiptBody(stored.body);
  } catch {
    return null;
  }
}
