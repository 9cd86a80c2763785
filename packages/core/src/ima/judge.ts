import type { CoreErrorCode } from '../errors.ts';
import type { AllowedDigests, CompiledPolicy } from './appraise.ts';
import type { ImaEntry } from './types.ts';

// Keylime's per-entry rule (keylime/ima/ima.py), shared by appraise (ImaEntry objects) and
// appraiseColumns (columns), so that both paths fail the same entries with the same codes.

/** judge()'s verdicts other than a failing code. */
export const PASSED = 0;
export const EXCLUDED = 1;
/** A violation that passed by the `pass` rule (counted apart from entries the policy allows). */
export const VIOLATION_PASSED = 2;

/** Where judge() reads an entry's file digest (hex) from, only when the policy needs it. */
export interface DigestSource {
  readonly digest: string;
}

/**
 * How violation entries (all-zero template hash: a file measured while open for write, or
 * changed while measured; its name and digest are bound by nothing) are judged:
 * - `pass`: they pass, before excludes and before any lookup. Keylime with its shipped
 *   configuration (verifier `ignore_tomtou_errors = False`; keylime/ima/ast.py Entry.invalid).
 * - `fail`: they fail IMA_VIOLATION, excluded or not (Keylime with `ignore_tomtou_errors = True`).
 * - `unless-excluded`: they pass on an excluded path and fail IMA_VIOLATION elsewhere: tmb's
 *   host check (core/src/host), where the provider's root could cause violations at will.
 * A boolean is the rule of judge()'s callers before issue 10: true `pass`, false `unless-excluded`.
 */
export type ViolationRule = 'pass' | 'fail' | 'unless-excluded';

/**
 * One entry's appraisal (shared by appraise, appraiseColumns and the host folds): PASSED,
 * EXCLUDED, or the failing code. Keylime's order (keylime/ima/ast.py, ima.py): PCR, then the
 * template hash algorithm (`logHashAlg`: the entry's against the policy's ima.log_hash_alg;
 * null skips it), then violations (`violations`), then excludes, then the policy's lists.
 */
export function judge(
  compiled: CompiledPolicy,
  pcrIndex: number | null,
  violations: boolean,
  pcr: number,
  template: ImaEntry['template'],
  violation: boolean,
  path: string,
  digest: DigestSource,
  logHashAlg?: string | null,
): typeof PASSED | typeof EXCLUDED | FailureCode;
export function judge(
  compiled: CompiledPolicy,
  pcrIndex: number | null,
  violations: ViolationRule | boolean,
  pcr: number,
  template: ImaEntry['template'],
  violation: boolean,
  path: string,
  digest: DigestSource,
  logHashAlg?: string | null,
): typeof PASSED | typeof EXCLUDED | typeof VIOLATION_PASSED | FailureCode;
export function judge(
  compiled: CompiledPolicy,
  pcrIndex: number | null,
  violations: ViolationRule | boolean,
  pcr: number,
  template: ImaEntry['template'],
  violation: boolean,
  path: string,
  digest: DigestSource,
  logHashAlg: string | null = null,
): typeof PASSED | typeof EXCLUDED | typeof VIOLATION_PASSED | FailureCode {
  if (pcrIndex !== null && pcr !== pcrIndex) return 'IMA_WRONG_PCR';
  if (logHashAlg !== null && logHashAlg !== compiled.policy.ima.log_hash_alg)
    return 'IMA_LOG_HASH_ALG_MISMATCH';
  const rule = violations === true ? 'pass' : violations === false ? 'unless-excluded' : violations;
  if (violation && rule !== 'unless-excluded') {
    if (rule === 'fail') return 'IMA_VIOLATION';
    return violations === true ? PASSED : VIOLATION_PASSED;
  }
  if (compiled.excludes?.test(path)) return EXCLUDED;
  if (violation) return 'IMA_VIOLATION';
  if (template !== 'ima-buf') {
    const allowed = compiled.digests.get(path);
    if (allowed === undefined) return 'IMA_FILE_NOT_IN_POLICY';
    return allows(allowed, digest.digest) ? PASSED : 'IMA_DIGEST_NOT_ALLOWED';
  }
  if (compiled.keyrings.has(path) || path.startsWith('.')) {
    if (compiled.ignoredKeyrings.has('*') || compiled.ignoredKeyrings.has(path)) return PASSED;
    return allows(compiled.keyrings.get(path), digest.digest) ? PASSED : 'IMA_KEYRING_NOT_ALLOWED';
  }
  return allows(compiled.imaBuf.get(path), digest.digest) ? PASSED : 'IMA_BUF_NOT_ALLOWED';
}

/** The codes judge() fails an entry with. */
export type FailureCode = Extract<
  CoreErrorCode,
  | 'IMA_WRONG_PCR'
  | 'IMA_LOG_HASH_ALG_MISMATCH'
  | 'IMA_VIOLATION'
  | 'IMA_FILE_NOT_IN_POLICY'
  | 'IMA_DIGEST_NOT_ALLOWED'
  | 'IMA_KEYRING_NOT_ALLOWED'
  | 'IMA_BUF_NOT_ALLOWED'
>;

/** Why each code fails (EntryFailure.detail); IMA_WRONG_PCR's names the PCRs. */
export function failureDetail(code: FailureCode, pcr: number, pcrIndex: number | null): string {
  switch (code) {
    case 'IMA_WRONG_PCR':
      return `extended into PCR ${pcr}, expected ${pcrIndex}`;
    case 'IMA_LOG_HASH_ALG_MISMATCH':
      return "template hash of another algorithm than the policy's ima.log_hash_alg";
    case 'IMA_VIOLATION':
      return 'violation entry (all-zero template hash): its content is not measured';
    case 'IMA_FILE_NOT_IN_POLICY':
      return 'path not in the policy';
    case 'IMA_DIGEST_NOT_ALLOWED':
      return 'digest not allowed for this path';
    case 'IMA_KEYRING_NOT_ALLOWED':
      return 'key not allowed on this keyring';
    case 'IMA_BUF_NOT_ALLOWED':
      return 'ima-buf digest not allowed';
  }
}

function allows(allowed: AllowedDigests | undefined, digest: string): boolean {
  if (allowed === undefined) return false;
  return Array.isArray(allowed) ? allowed.includes(digest) : (allowed as ReadonlySet<string>).has(digest);
}
