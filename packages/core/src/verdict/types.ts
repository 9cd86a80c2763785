import type { CoreErrorCode } from '../errors.ts';
import type { HostSummary } from '../host/types.ts';

/**
 * Assurance levels (DESIGN.md): L0 a signed receipt from an enrolled agent key; L1 plus a
 * TPM-quoted host with measured agent, engine and weights; L2 plus consistent telemetry;
 * L3 plus GPU confidential-computing evidence. `none` when even L0 does not hold.
 */
export const LEVELS = ['none', 'L0', 'L1', 'L2', 'L3'] as const;
export type Level = (typeof LEVELS)[number];

/**
 * Whether a check's subject was proven by evidence, only asserted by the provider, or failed.
 * A check that cannot be made yet (no evidence of that kind) is `asserted` or `skipped`, never `pass`.
 */
export type CheckStatus = 'pass' | 'fail' | 'asserted' | 'skipped';

/** One link of the evidence chain, checked. */
export interface Check {
  /** Stable dotted name, e.g. `receipt.signature` (docs/result.md lists them). */
  name: string;
  status: CheckStatus;
  /** Set when status is `fail`: what failed, from the error table in docs/errors.md. */
  code?: CoreErrorCode;
  /** One human sentence: what was expected and what was found. */
  detail: string;
}

/** The verifier's answer for one receipt. */
export interface Verdict {
  receiptId: string;
  requestId: string | null;
  /** The highest level whose every check passed. */
  level: Level;
  /** True when no check failed. */
  ok: boolean;
  checks: Check[];
  /** What the host facts rest on (docs/result.md): kernel and boot logs, Secure Boot. Absent without a TPM. */
  host?: HostSummary;
}
