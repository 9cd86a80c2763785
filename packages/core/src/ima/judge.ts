import type { CoreErrorCode } from '../errors.ts';
import type { AllowedDigests, CompiledPolicy } from './appraise.ts';
import type { ImaEntry } from './types.ts';

// Keylime's per-entry rule (keylime/ima/ima.py), shared by appraise (ImaEntry objects) and
// appraiseColumns (columns), so that both paths fail the same entries with the same codes.

/** judge()'s verdicts other than a failing code. */
export const PASSED = 0;
export const EXCLUDED = 1;

/** Where judge() reads an entry's file digest (hex) from, only when the policy needs it. */
export interface DigestSource {
  readonly digest: string;
}

/**
 * One entry's appraisal (shared by appraise and appraiseColumns): PASSED, EXCLUDED, or the
 * failing code.
 */
export function judge(
  compiled: CompiledPolicy,
  pcrIndex: number | null,
  allowViolations: boolean,
  pcr: number,
  template: ImaEntry['template'],
  violation: boolean,
  path: string,
  digest: DigestSource,
): typeof PASSED | typeof EXCLUDED | FailureCode {
  if (pcrIndex !== null && pcr !== pcrIndex) return 'IMA_WRONG_PCR';
  if (compiled.excludes?.test(path)) return EXCLUDED;
  if (violation) return allowViolations ? PASSED : 'IMA_VIOLATION';
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
