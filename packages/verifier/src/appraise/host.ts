import { type Check, type ReceiptBody, receiptServed } from '@tmb/core';
import { type HostSegment, servedCheck, upstreamCheck, weightsCheck } from '@tmb/core/host';
import type { CompiledRegistry } from '@tmb/core/registry';
import type { HostAppraiser } from '../host/appraiser.ts';
import type { StoredReceipt } from '../store/types.ts';
import type { L1Result } from './l1.ts';

/** What host checks are made from: the reference values, and the ledgers of agents without a TPM. */
export type HostSource = Pick<HostAppraiser, 'refs' | 'view'>;

/**
 * The host checks of a receipt (docs/result.md): weights.allowed, host.engine, host.agent,
 * telemetry.tool, host.upstream and weights.served from the kernel log as of the quote that
 * judges the receipt (`l1.segment`); for an agent without a TPM, from its own (asserted) log
 * (HostAppraiser.view). None without a host source, a decoded body, or (quoted) a registry.
 */
export async function hostChecks(
  host: HostSource | undefined,
  stored: StoredReceipt,
  body: ReceiptBody | null,
  l1: L1Result,
): Promise<Check[]> {
  const seg = l1.segment;
  const registry = host?.refs.registry ?? null;
  if (seg !== undefined && body) return registry === null ? [] : segmentChecks(seg, body, registry);
  if (host && body && l1.noAk) return (await host.view(stored.agent))(body);
  return [];
}

/** The registry checks of a receipt from the segment judging it (docs/result.md). */
function segmentChecks(seg: HostSegment, body: ReceiptBody, reg: CompiledRegistry): Check[] {
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
