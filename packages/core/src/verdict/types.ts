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
  /** Whose CA vouches for the agent's TPM (docs/tpm-roots.md). Absent for an agent without an enrolled AK. */
  tpm?: VerdictTpm;
}

/**
 * The class of the CA an EK certificate chains to (docs/tpm-roots.md): `hardware`, a TPM vendor's
 * CA from the shipped list; `development`, any other root the verifier's operator configured
 * (swtpm's local CA, a locally made CA); `unknown`, no chain, or an enrolment made before
 * classes were recorded.
 */
export type TpmRootClass = 'hardware' | 'development' | 'unknown';

/** What a verdict says of the agent's TPM, as established when its AK was enrolled. */
export interface VerdictTpm {
  root: TpmRootClass;
  /** Subject of the trust anchor the EK certificate chained to, one line (`C=CH, O=..., CN=...`);
   * the EK certificate's own issuer when it chained to none. */
  issuer: string;
  /** The TPM vendor the certificate's manufacturer attribute names (`Infineon`); the attribute's
   * raw value (`id:58595A00`) when no vendor is known for it; null when the certificate has none. */
  manufacturer: string | null;
}
