import {
  type Appraisal,
  type AppraiseOptions,
  type CompiledPolicy,
  type EntryFailure,
  violationRule,
} from './appraise.ts';
import type { ImaColumns } from './columns.ts';
import { type DigestSource, EXCLUDED, failureDetail, judge, PASSED, VIOLATION_PASSED } from './judge.ts';
import { IMA_PCR } from './types.ts';

// appraise() over columns: the same rule (judge.ts) per entry. The only per-entry allocations
// are the path string and, when the policy needs it, the digest's hex: both die young.

/** A DigestSource reused for every entry: the hex is cut only when judge() reads it. */
class ColumnDigest implements DigestSource {
  i = 0;
  readonly cols: ImaColumns;
  constructor(cols: ImaColumns) {
    this.cols = cols;
  }
  get digest(): string {
    return this.cols.digest(this.i);
  }
}

/** appraise() for columns: same policy, options and result. */
export function appraiseColumns(
  cols: ImaColumns,
  compiled: CompiledPolicy,
  options: AppraiseOptions = {},
): Appraisal {
  const pcrIndex = options.pcrIndex === undefined ? IMA_PCR : options.pcrIndex;
  const rule = violationRule(options);
  const alg = options.checkLogHashAlg !== false ? cols.templateHashAlg : null;
  const failures: EntryFailure[] = [];
  const digest = new ColumnDigest(cols);
  let excluded = 0;
  let violations = 0;
  const n = cols.length;
  for (let i = 0; i < n; i++) {
    digest.i = i;
    const path = cols.path(i);
    const pcr = cols.pcr[i]!;
    const v = judge(
      compiled,
      pcrIndex,
      rule,
      pcr,
      cols.templateOf(i),
      cols.violation[i] === 1,
      path,
      digest,
      alg,
    );
    if (v === EXCLUDED) excluded++;
    else if (v === VIOLATION_PASSED) violations++;
    else if (v !== PASSED) {
      failures.push({
        index: cols.firstIndex + i,
        offset: cols.offset[i]!,
        template: cols.templateOf(i),
        path,
        digest: `${cols.algOf(i)}:${cols.digest(i)}`,
        code: v,
        detail: failureDetail(v, pcr, pcrIndex),
      });
    }
  }
  return { entries: n, passed: n - excluded - violations - failures.length, excluded, violations, failures };
}
