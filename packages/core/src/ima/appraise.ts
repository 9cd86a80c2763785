import type { CoreErrorCode } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import type { PathMatcher } from './excludes.ts';
import {
  EXCLUDED,
  type FailureCode,
  failureDetail,
  judge,
  PASSED,
  VIOLATION_PASSED,
  type ViolationRule,
} from './judge.ts';
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
  /** Python-syntax excludes, matched in linear time (excludes.ts). */
  excludes: PathMatcher | null;
  ignoredKeyrings: Set<string>;
}

/**
 * Builds the lookups for a parsed policy.
 * @throws CoreError IMA_POLICY_INVALID / IMA_POLICY_REGEX_UNSUPPORTED (an exclude)
 */
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

/** Options of appraise(); the defaults are Keylime's (docs/policy.md, "Appraisal"). */
export interface AppraiseOptions {
  /** Entries extended into another PCR fail IMA_WRONG_PCR. Default 10; null checks none. */
  pcrIndex?: number | null;
  /**
   * How violations are judged (judge.ts ViolationRule). Default `pass`, Keylime's shipped
   * configuration; `unless-excluded` is tmb's stricter rule (the host check's), `fail` Keylime's
   * `ignore_tomtou_errors = True`.
   */
  violations?: ViolationRule;
  /** The rule as a boolean, before `violations` existed: true `pass`, false `unless-excluded`. Ignored when `violations` is given. */
  allowViolations?: boolean;
  /**
   * Fail entries whose template hash is of another algorithm than the policy's
   * `ima.log_hash_alg` (IMA_LOG_HASH_ALG_MISMATCH), as Keylime does. Default true.
   */
  checkLogHashAlg?: boolean;
}

/** The violation rule that options ask for. */
export function violationRule(options: AppraiseOptions): ViolationRule {
  if (options.violations !== undefined) return options.violations;
  if (options.allowViolations === undefined) return 'pass';
  return options.allowViolations ? 'pass' : 'unless-excluded';
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
  /** Entries the policy allows (not excluded, not violations). */
  passed: number;
  excluded: number;
  /** Violations that passed by the rule (`pass`, or `unless-excluded` on an excluded path counts as excluded). */
  violations: number;
  failures: EntryFailure[];
}

/**
 * Appraises each entry as Keylime does (keylime/ima/ima.py, ast.py): PCR, template hash
 * algorithm against `ima.log_hash_alg` (IMA_LOG_HASH_ALG_MISMATCH), violations by the rule
 * (default: they pass, before excludes); then an excluded path passes; a file
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
  const rule = violationRule(options);
  const checkAlg = options.checkLogHashAlg !== false;
  const failures: EntryFailure[] = [];
  let excluded = 0;
  let violations = 0;
  for (const e of entries) {
    const path = e.path;
    const alg = checkAlg ? e.templateHashAlg : null;
    const v = judge(compiled, pcrIndex, rule, e.pcr, e.template, e.violation, path, e, alg);
    if (v === EXCLUDED) excluded++;
    else if (v === VIOLATION_PASSED) violations++;
    else if (v !== PASSED) failures.push(failure(e, v, path, pcrIndex));
  }
  const passed = entries.length - excluded - violations - failures.length;
  return { entries: entries.length, passed, excluded, violations, failures };
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
    const v = a.violations > 0 ? `, ${a.violations} violations passed` : '';
    return { name, status: 'pass', detail: `${a.passed} entries allowed, ${a.excluded} excluded${v}` };
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
