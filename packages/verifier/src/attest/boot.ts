import type { Check } from '@tmb/core';
import { appraiseBootLog, type BootPolicy, bootAggregate } from '@tmb/core/boot';

/** SHA-256 over the sha256 bank's PCRs 0-9, as the kernel logs `boot_aggregate` (TPM 2.0, kernels >= 5.8). */
export function bootAggregateOf(pcrs: ReadonlyMap<number, Uint8Array>): Uint8Array {
  return bootAggregate(pcrs);
}

/**
 * The boot log appraised against the quoted PCRs 0-9 and a measured-boot policy (docs/boot.md;
 * none: the log must only replay). Never throws for bad evidence: a named failing `host.boot`.
 */
export function appraiseBoot(
  log: Uint8Array,
  pcrs: ReadonlyMap<number, Uint8Array>,
  policy: BootPolicy | null | undefined,
): { check: Check; secureBoot: boolean | null; simulated: boolean } {
  return appraiseBootLog({ log, pcrs, policy: policy ?? null });
}
