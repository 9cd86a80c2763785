import { type CanonicalValue, canonicalJson } from '@tmb/core';
import { ClientError } from '../errors.ts';
import type { Bundle, BundleEvidence } from './types.ts';
import { type BundleResult, type VerifyBundleOptions, verifyBundle } from './verify.ts';

/**
 * Several receipts judged by one quote, sharing its evidence (docs/bundle.md, "Batches"): the
 * quote, keys, logs and policy once, and per receipt only what differs. Expanding an item gives
 * back the single bundle exactly (its EAR's evidence digest covers the expanded evidence).
 */
export interface BundleBatch {
  v: 1;
  type: 'tmb.bundle-batch';
  /** The evidence every item shares: a bundle's evidence without `receipt`, `agentKey` and `inclusion.proof`. */
  shared: Omit<BundleEvidence, 'receipt' | 'agentKey' | 'inclusion'> & { inclusion: { checkpoint: string } };
  items: { receipt: BundleEvidence['receipt']; agentKey: string; proof: unknown; result: string }[];
}

/** Most items in one batch: a quote covers at most a few thousand receipts (checkpointEveryReceipts 500). */
export const MAX_BATCH_ITEMS = 10_000;

function sharedOf(e: BundleEvidence): BundleBatch['shared'] {
  const { receipt: _r, agentKey: _a, inclusion, ...rest } = e;
  return { ...rest, inclusion: { checkpoint: inclusion.checkpoint } };
}

/**
 * Groups single bundles into batches: bundles whose evidence is equal but for the receipt, its
 * key and its inclusion proof share one batch (receipts judged by the same quote). Bundles are
 * not checked here: verify the batches.
 */
export function batchBundles(bundles: readonly Bundle[]): BundleBatch[] {
  const groups = new Map<string, BundleBatch>();
  for (const b of bundles) {
    const shared = sharedOf(b.evidence);
    const key = canonicalJson(shared as unknown as CanonicalValue);
    let g = groups.get(key);
    if (g === undefined) {
      g = { v: 1, type: 'tmb.bundle-batch', shared, items: [] };
      groups.set(key, g);
    }
    const e = b.evidence;
    g.items.push({ receipt: e.receipt, agentKey: e.agentKey, proof: e.inclusion.proof, result: b.result });
  }
  return [...groups.values()];
}

/**
 * The single bundles of a batch, in item order (each verifies as any bundle).
 * @throws ClientError BUNDLE_MALFORMED when it is not a batch (members are checked per bundle)
 */
export function expandBatch(batch: unknown): unknown[] {
  const b = batch as Partial<BundleBatch> | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b) || b.v !== 1 || b.type !== 'tmb.bundle-batch')
    throw new ClientError('BUNDLE_MALFORMED', 'not a tmb.bundle-batch of version 1');
  for (const k of Object.keys(b))
    if (!['v', 'type', 'shared', 'items'].includes(k))
      throw new ClientError('BUNDLE_MALFORMED', `"batch" has an unknown member "${k}"`);
  const shared = b.shared as Record<string, unknown> | undefined;
  if (typeof shared !== 'object' || shared === null || Array.isArray(shared))
    throw new ClientError('BUNDLE_MALFORMED', '"batch.shared" must be an object');
  const inclusion = shared.inclusion as Record<string, unknown> | undefined;
  if (typeof inclusion !== 'object' || inclusion === null || Object.keys(inclusion).join() !== 'checkpoint')
    throw new ClientError('BUNDLE_MALFORMED', '"batch.shared.inclusion" must be {"checkpoint": NOTE}');
  if (!Array.isArray(b.items) || b.items.length === 0 || b.items.length > MAX_BATCH_ITEMS)
    throw new ClientError('BUNDLE_MALFORMED', `"batch.items" must hold 1 to ${MAX_BATCH_ITEMS} items`);
  return b.items.map((item: unknown, i) => {
    const it = item as Record<string, unknown> | null;
    if (
      typeof it !== 'object' ||
      it === null ||
      Array.isArray(it) ||
      Object.keys(it).sort().join() !== 'agentKey,proof,receipt,result'
    )
      throw new ClientError(
        'BUNDLE_MALFORMED',
        `"batch.items[${i}]" must be {receipt, agentKey, proof, result}`,
      );
    return {
      v: 1,
      type: 'tmb.bundle',
      evidence: {
        ...shared,
        receipt: it.receipt,
        agentKey: it.agentKey,
        inclusion: { checkpoint: inclusion.checkpoint, proof: it.proof },
      },
      result: it.result,
    };
  });
}

/**
 * Verifies every receipt of a batch as verifyBundle does, in item order. A malformed batch is one
 * result with a failed `bundle.format`. Never throws for bad evidence.
 */
export async function verifyBundleBatch(
  batch: unknown,
  options: VerifyBundleOptions,
): Promise<BundleResult[]> {
  let bundles: unknown[];
  try {
    bundles = expandBatch(batch);
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    return [
      {
        receiptId: null,
        level: 'none',
        ok: false,
        checks: [{ name: 'bundle.format', status: 'fail', code: err.code, detail: err.message }],
      },
    ];
  }
  const out: BundleResult[] = [];
  for (const b of bundles) out.push(await verifyBundle(b, options));
  return out;
}
