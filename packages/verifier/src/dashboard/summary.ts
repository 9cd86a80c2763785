import type { ReceiptBody } from '@tmb/core';
import { composeVerdict, type VerdictSources } from '../appraise/verdict.ts';
import type { Store } from '../store/types.ts';
import type { TelemetryService } from '../telemetry/service.ts';
import type { FeedVerdict } from './feed.ts';

/** What a verdict summary is made from: the verifier's verdict sources, less the signer. */
export type SummarySources = Omit<VerdictSources, 'signer' | 'telemetry'> & {
  store: Pick<Store, 'getReceipt'> & VerdictSources['store'];
  telemetry?: Pick<TelemetryService, 'check' | 'find'> | undefined;
};

/** The telemetry check's word for "the samples after the answer have not arrived yet" (stats). */
const NO_SAMPLES_YET = 'no-samples-around-window';

/** The dashboard shows verdicts, not EARs: nothing is signed for it (GET /v1/receipts/:id does). */
const UNSIGNED = { issue: async () => '' };

/**
 * A stored receipt's verdict in short (FeedVerdict): composed by composeVerdict, the function
 * GET /v1/receipts/:id answers with, from the same sources, so the dashboard shows the level
 * and failures a client gets; with the request's telemetry features as
 * GET /v1/telemetry/receipts/:id finds them. Undefined when no such receipt is stored.
 */
export async function summarise(sources: SummarySources, id: string): Promise<FeedVerdict | undefined> {
  const stored = await sources.store.getReceipt(id);
  if (stored === undefined) return undefined;
  const r = await composeVerdict({ ...sources, signer: UNSIGNED }, stored);
  const body = r.body;
  return {
    receiptId: stored.id,
    agent: stored.agent,
    requestId: r.verdict.requestId,
    level: r.verdict.level,
    ok: r.verdict.ok,
    failing: r.verdict.checks
      .filter((c) => c.status === 'fail')
      .map((c) => ({ name: c.name, code: c.code ?? null, detail: c.detail })),
    receivedAt: stored.receivedAt,
    pending: r.verdict.checks.some(
      (c) =>
        c.detail.startsWith('pending:') ||
        (c.name === 'telemetry.consistent' && c.status === 'skipped' && c.detail.includes(NO_SAMPLES_YET)),
    ),
    at: body === null ? null : Math.round(body.time.end / 1000),
    model: body?.model.requested ?? null,
    path: body?.request.path ?? null,
    tokens: body?.usage.completion ?? null,
    telemetry: await features(sources.telemetry, body),
  };
}

/** The request's features (energy per token, power, utilisation) and its profile, if any. */
async function features(
  t: Pick<TelemetryService, 'find'> | undefined,
  body: ReceiptBody | null,
): Promise<FeedVerdict['telemetry']> {
  if (t === undefined || body === null) return null;
  const f = await t.find(body, true);
  if (f.features === undefined) return null;
  return {
    energyPerToken: f.features.energyPerToken,
    meanPowerW: f.features.meanPowerW,
    utilization: f.features.utilization,
    profile: f.profile?.id ?? null,
    check: f.check.status,
  };
}
