import type { Check, Level } from './types.ts';

/** Checks that must all pass for L0: a well-formed receipt signed by an enrolled agent key. */
export const L0_CHECKS = ['receipt.format', 'receipt.signature', 'agent.enrolled'] as const;

/**
 * Checks that must all pass, on top of L0, for L1: a TPM-quoted host (docs/result.md). The
 * EK chain and AK activation name the TPM; the quote, its nonce, clock and PCR digest and the
 * replayed measurement log name the boot and the key bound into it; the checkpoint signed by
 * that key covers the receipt and extends the agent's previous quoted checkpoint. The key
 * binding counts only with the kernel's word: `host.integrity` (the kernel IMA log replayed to
 * the quoted PCR 10, every entry since boot allowed) and `host.boot` (the UEFI log replayed to
 * the quoted PCRs 0-9), both from the quote that judges the receipt (docs/evidence.md).
 */
export const L1_CHECKS = [
  'host.ek_certificate',
  'host.ak_activated',
  'quote.signature',
  'quote.nonce',
  'quote.clock',
  'quote.pcr_digest',
  'log.replay',
  'key.bound',
  'checkpoint.signature',
  'receipt.included',
  'checkpoint.consistent',
  'host.integrity',
  'host.boot',
] as const;

/**
 * Host checks against the model registry (docs/registry.md), present only when the verifier
 * has one. When present, L1 also needs `weights.allowed` to pass (the weights that served are
 * measured and allowed for the model asked for), and `host.engine` and `host.agent` not to
 * fail or be only asserted (`skipped`: the registry lists no engines or agent builds), and
 * `host.upstream` not to fail (the agent's upstream holds weights the kernel measured).
 */
export const L1_HOST_CHECKS = ['weights.allowed', 'host.engine', 'host.agent', 'host.upstream'] as const;

/**
 * Checks that must pass, on top of L1, for L2: GPU telemetry consistent with the claimed model's
 * profile, read by a telemetry tool the kernel measured as an allowed one.
 */
export const L2_CHECKS = ['telemetry.consistent', 'telemetry.tool'] as const;

/**
 * The highest assurance level every required check of which passed. Telemetry and other
 * `asserted` checks never raise a level; a level is reached only when each of its checks is
 * present and `pass`.
 */
export function levelOf(checks: readonly Check[]): Level {
  const passed = new Set(checks.filter((c) => c.status === 'pass').map((c) => c.name));
  if (!L0_CHECKS.every((n) => passed.has(n))) return 'none';
  if (!L1_CHECKS.every((n) => passed.has(n))) return 'L0';
  if (checks.some((c) => hostCapsL1(c))) return 'L0';
  if (!L2_CHECKS.every((n) => passed.has(n))) return 'L1';
  return 'L2';
}

/** Whether a present registry check keeps a verdict below L1 (L1_HOST_CHECKS). */
function hostCapsL1(c: Check): boolean {
  if (!(L1_HOST_CHECKS as readonly string[]).includes(c.name)) return false;
  if (c.name === 'weights.allowed') return c.status !== 'pass';
  // host.upstream: skipped (no upstream in the evidence) does not cap; a fail does.
  if (c.name === 'host.upstream') return c.status === 'fail';
  return c.status === 'fail' || c.status === 'asserted';
}
