import type { CoreErrorCode } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { EXCLUDED, type FailureCode, failureDetail, judge, PASSED } from './judge.ts';
import { compileExcludes, type RuntimePolicy } from './policy.ts';
import { IMA_PCR, type ImaEntry } from './types.ts';

/**
 * Allowed digests of one name: the policy's own array when short (most paths have one or two
 * digests; 100,000 Sets would cost ~20 MB for nothing), a Set when long.
 */
export type AllowedDigests = readonly string[] | ReadonlySet<string>;

/** A runtime policy turned into lookups: built once, used for every appraisal. */
export interface CompiledPolicy {
  policy: RuntimePolicy;
  digests: Map<string, AllowedDigests>;
  keyrings: Map<string, AllowedDigests>;
  imaBuf: Map<string, AllowedDigests>;
  excludes: RegExp | null;
  ignoredKeyrings: Set<string>;
}

/** Builds the lookups for a parsed policy. @throws CoreError IMA_POLICY_INVALID (an exclude that does not compile) */
export function compilePolicy(policy: RuntimePolicy): CompiledPolicy {
  const maps = (r: Record<string, string[]>) => {
    const m = new Map<string, AllowedDigests>();
    for (const k in r) {
      const v = r[k]!;
      m.set(k, v.length > 8 ? new Set(v) : v);
    }
    return m;
  };
  return {
    policy,
    digests: maps(policy.digests),
    keyrings: maps(policy.keyrings),
    imaBuf: maps(policy['ima-buf']),
    excludes: compileExcludes(policy.excludes),
    ignoredKeyrings: new Set(policy.ima.ignored_keyrings),
  };
}

/** Options of appraise(); the defaults are Keylime's. */
export interface AppraiseOptions {
  /** Entries extended into another PCR fail IMA_WRONG_PCR. Default 10; null checks none. */
  pcrIndex?: number | null;
  /**
   * Let violations (all-zero template hash: the content is bound by nothing) pass. Default
   * false, because a violation's name and digest are not covered by the PCR. Violations on
   * excluded paths (log files held open for write, the usual cause) are excluded first.
   */
  allowViolations?: boolean;
}

/** One entry that did not pass, and why. */
export interface EntryFailure {
  index: number;
  offset: number;
  template: ImaEntry['template'];
  path: string;
  /** `<algo>:<hex>` */
  digest: string;
  code: CoreErrorCode;
  detail: string;
}

/** The outcome of appraising entries against a policy. */
export interface Appraisal {
  entries: number;
  passed: number;
  excluded: number;
  failures: EntryFailure[];
}

/**
 * Appraises each entry as Keylime does (keylime/ima/ima.py): an excluded path passes; a file
 * entry (ima, ima-ng, ima-sig) must have its path in `digests` (IMA_FILE_NOT_IN_POLICY) with its
 * digest listed (IMA_DIGEST_NOT_ALLOWED); an ima-buf entry naming a keyring (`.ima`, or a name
 * listed under `keyrings`) must have its key digest there unless the keyring is ignored
 * (IMA_KEYRING_NOT_ALLOWED); any other ima-buf entry is looked up in `ima-buf`
 * (IMA_BUF_NOT_ALLOWED). ima-sig signatures are not verified: the digest decides, which is
 * Keylime's fallback when a signature does not verify.
 */
export function appraise(
  entries: readonly ImaEntry[],
  compiled: CompiledPolicy,
  options: AppraiseOptions = {},
): Appraisal {
  const pcrIndex = options.pcrIndex === undefined ? IMA_PCR : options.pcrIndex;
  const allowViolations = options.allowViolations === true;
  const failures: EntryFailure[] = [];
  let excluded = 0;
  for (const e of entries) {
    const path = e.path;
    const v = judge(compiled, pcrIndex, allowViolations, e.pcr, e.template, e.violation, path, e);
    if (v === EXCLUDED) excluded++;
    else if (v !== PASSED) failures.push(failure(e, v, path, pcrIndex));
  }
  return { entries: entries.length, passed: entries.length - excluded - failures.length, excluded, failures };
}

function failure(e: ImaEntry, code: FailureCode, path: string, pcrIndex: number | null): EntryFailure {
  return {
    index: e.index,
    offset: e.offset,
    template: e.template,
    path,
    digest: `${e.digestAlg}:${e.digest}`,
    code,
    detail: failureDetail(code, e.pcr, pcrIndex),
  };
}

/** The appraisal as one check of a verdict (`ima.policy`), naming the first failures. */
export function appraisalCheck(a: Appraisal, name = 'ima.policy'): Check {
  const first = a.failures[0];
  if (first === undefined) {
    return { name, status: 'pass', detail: `${a.passed} entries allowed, ${a.excluded} excluded` };
  }
  const shown = a.failures
    .slice(0, 3)
    .map((f) => `#${f.index} ${f.path} (${f.code})`)
    .join(', ');
  return {
    name,
    status: 'fail',
    code: first.code,
    detail: `${a.failures.length} of ${a.entries} entries not allowed: ${shown}${a.failures.length > 3 ? ', ...' : ''}`,
  };
}
