import { decodeReceiptBody } from '@tmb/core';
import type { Context } from '../api/context.ts';
import { VerifierError } from '../errors.ts';

const RECEIPT_ID = /^[0-9a-f]{32}$/;

function service(ctx: Context) {
  if (ctx.telemetry === undefined) throw new VerifierError('ROUTE_NOT_FOUND', 'telemetry is not enabled');
  return ctx.telemetry;
}

/** POST /v1/telemetry: an agent's digest-chained sample batches (docs/api.md). */
export function postTelemetry(ctx: Context): Promise<void> {
  return service(ctx).ingest(ctx);
}

/**
 * GET /v1/telemetry/receipts/:id: what the verifier found for one stored receipt's telemetry
 * (the check, the profile, the score and the request's features), for calibration and debugging.
 */
export async function getTelemetryFinding(ctx: Context, id: string): Promise<void> {
  const t = service(ctx);
  if (!RECEIPT_ID.test(id))
    throw new VerifierError('ROUTE_NOT_FOUND', 'a receipt id is 32 lower-case hex digits');
  await t.getFinding(ctx, id, async () => {
    const stored = await ctx.store.getReceipt(id);
    if (stored === undefined) return null;
    try {
      return decodeReceiptBody(stored.body);
    } catch {
      return null;
    }
  });
}
