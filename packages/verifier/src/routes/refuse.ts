import type { Check } from '@tmb/core';
import { sendJson } from '../http/respond.ts';
import type { Context } from './context.ts';

/** Sends 422 EVIDENCE_REJECTED with the named checks, and logs the first failed one. */
export function refuseChecks(ctx: Context, checks: Check[]): void {
  const failed = checks.find((c) => c.status === 'fail');
  ctx.log.warn('attest_refused', { route: ctx.url.pathname, code: failed?.code, check: failed?.name });
  sendJson(ctx.res, 422, {
    error: {
      code: 'EVIDENCE_REJECTED',
      message: failed ? `${failed.name}: ${failed.code}: ${failed.detail}` : 'rejected',
    },
    checks,
  });
}
