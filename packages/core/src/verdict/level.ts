import type { Check, Level } from './types.ts';

/** Checks that must all pass for each level, by name prefix order. Later issues add L1+. */
const L0_REQUIRED = ['receipt.format', 'receipt.signature', 'agent.enrolled'] as const;

/**
 * The highest assurance level every required check of which passed. Telemetry and other
 * `asserted` checks never raise a level; any failed check caps it at `none` only when the
 * failed check belongs to that level's requirements.
 */
export function levelOf(checks: readonly Check[]): Level {
  const passed = new Set(checks.filter((c) => c.status === 'pass').map((c) => c.name));
  if (!L0_REQUIRED.every((n) => passed.has(n))) return 'none';
  return 'L0';
}
