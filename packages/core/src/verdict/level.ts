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
 * `host.upstream` not to fail (the agent's upstream holds weights the kernel measured), nor
 * `weights.served` (the weights a v2 receipt names are ones the kernel measured).
 */
export const L1_HOST_CHECKS = [
  'weights.allowed',
  'weights.served',
  'host.engine',
  'host.agent',
  'host.upstream',
] as const;

/**
 * Checks that must pass, on top of L1, for L2: GPU telemetry consistent with the claimed model's
 * profile, read by a telemetry tool the kernel measured as an allowed one.
 */
export const L2_CHECKS = ['telemetry.consistent', 'telemetry.tool'] as const;

/**
 * Checks that the client adds on top of L0_CHECKS when it appraises its own exchange
 * (`levelOf(checks, { client: true })`): the receipt is the one the response named, it covers
 * the exact bytes sent and received, and it carries the nonce the client sent (docs/result.md).
 */
export const L0_CLIENT_CHECKS = [
  'receipt.id',
  'client.request_hash',
  'client.response_hash',
  'client.nonce',
] as const;

/** Options of {@link levelOf}. */
export interface LevelOptions {
  /**
   * The checks are a client's appraisal of its own exchange: L0 also needs L0_CLIENT_CHECKS to
   * pass. Default false: a verifier's verdict, which has no client bytes to compare.
   */
  client?: boolean;
}

const LEVEL_RANK: Record<Level, number> = { none: 0, L0: 1, L1: 2, L2: 3, L3: 4 };
const GROUP_L1: ReadonlySet<string> = new Set<string>([...L1_CHECKS, ...L1_HOST_CHECKS, 'ima.policy']);
const GROUP_L2: ReadonlySet<string> = new Set<string>(L2_CHECKS);
const GROUP_L0: ReadonlySet<string> = new Set<string>([
  ...L0_CHECKS,
  ...L0_CLIENT_CHECKS,
  'receipt.exchange',
]);

/**
 * The level group a check belongs to: `L0` (the receipt, its enrolment, the client's own and
 * the verifier-call checks: `client.*`, `verifier.*`), `L1` (host, quote, log and registry
 * checks, and `ima.policy`), `L2` (telemetry), or null for a name in no group.
 */
export function checkGroup(name: string): 'L0' | 'L1' | 'L2' | null {
  if (GROUP_L2.has(name)) return 'L2';
  if (GROUP_L1.has(name)) return 'L1';
  if (GROUP_L0.has(name) || name.startsWith('client.') || name.startsWith('verifier.')) return 'L0';
  return null;
}

/**
 * The highest level a verdict with this check failed can have: below the check's group
 * (L0 group: `none`, L1: L0, L2: L1). A name in no group caps at `none`: a failure nobody
 * classified must not be read as harmless.
 */
function capOfFailed(name: string): Level {
  const g = checkGroup(name);
  return g === 'L2' ? 'L1' : g === 'L1' ? 'L0' : 'none';
}

/** The lower of two levels. */
export function minLevel(a: Level, b: Level): Level {
  return LEVEL_RANK[a] <= LEVEL_RANK[b] ? a : b;
}

/**
 * The highest assurance level every required check of which passed, capped below the group
 * of any check that failed (capOfFailed): a failed L1 or L2 check never leaves L1, a failed
 * receipt or client check leaves `none`. Telemetry and other `asserted` checks never raise a
 * level; a level is reached only when each of its checks is present and `pass`.
 */
export function levelOf(checks: readonly Check[], options: LevelOptions = {}): Level {
  let level = reached(checks, options.client === true);
  for (const c of checks) if (c.status === 'fail') level = minLevel(level, capOfFailed(c.name));
  return level;
}

function reached(checks: readonly Check[], client: boolean): Level {
  const passed = new Set(checks.filter((c) => c.status === 'pass').map((c) => c.name));
  if (!L0_CHECKS.every((n) => passed.has(n))) return 'none';
  if (client && !L0_CLIENT_CHECKS.every((n) => passed.has(n))) return 'none';
  if (!L1_CHECKS.every((n) => passed.has(n))) return 'L0';
  if (checks.some((c) => hostCapsL1(c))) return 'L0';
  if (!L2_CHECKS.every((n) => passed.has(n))) return 'L1';
  return 'L2';
}

/** Whether a present registry check keeps a verdict below L1 (L1_HOST_CHECKS). */
function hostCapsL1(c: Check): boolean {
  if (!(L1_HOST_CHECKS as readonly string[]).includes(c.name)) return false;
  if (c.name === 'weights.allowed') return c.status !== 'pass';
  // host.upstream, weights.served: skipped (no upstream in the evidence, no served weights
  // named) does not cap; a fail does.
  if (c.name === 'host.upstream' || c.name === 'weights.served') return c.status === 'fail';
  return c.status === 'fail' || c.status === 'asserted';
}
