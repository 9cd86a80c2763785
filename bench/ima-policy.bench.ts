/**
 * Exclude matching (issue 10): the cost of tmb's linear-time matcher (RE2, regex.ts) against
 * V8's backtracking RegExp (what tmb used before) for the same translated patterns, over the
 * paths of a 300,000-entry log (scripts/ima-gen.ts, seeded, 5% violations on log and temp
 * paths), in the same run. The excludes are
 * a Keylime-style list: the directories Keylime's documentation and tutorials exclude (logs,
 * temporary and runtime files, package build trees, the agent's own state) written as
 * exclude-list lines are, anchored and unanchored, with a few alternations and sets. Also: one
 * catastrophic pattern, `(a+)+$`, against a path of N 'a's and '!': RE2's time for 100,000, and
 * V8's for 20, 23 and 26 (time grows about 2x a character: a 40-character path took 8 minutes here).
 * TMB_BENCH_IMA_ENTRIES overrides the log size.
 */
import { compileExcludes, parseBinaryColumns, pythonToRe2 } from '@tmb/core/ima';
import { generateBinary } from '../scripts/ima-gen.ts';
import type { BenchRecord } from './record.ts';

const ENTRIES = Number(process.env.TMB_BENCH_IMA_ENTRIES ?? 300_000);

/** Keylime-style exclude list (Python `re` syntax, matched at the path's start). */
export const EXCLUDES = [
  '/tmp/.*',
  '/var/tmp/.*',
  '/var/log/.*',
  '/var/cache/.*',
  '/var/lib/keylime/.*',
  '/var/lib/(?:rpm|dnf|apt)/.*',
  '/run/.*',
  '/proc/.*',
  '/sys/.*',
  '/dev/.*',
  '^/root/rpmbuild/.*$',
  '^/home/[^/]+/\\.cache/.*$',
  '/usr/(?:local/)?lib/python3\\.[0-9]+/.*\\.pyc$',
  '/usr/share/(?:doc|man|locale)/.*',
  '/etc/(?:mtab|resolv\\.conf|machine-id)$',
  '/opt/(?P<app>[a-z0-9_-]+)/logs/.*',
  '.*/__pycache__/.*',
  '/snap/[^/]+/[0-9]+/.*',
  'boot_aggregate_ignored\\Z',
  '/var/spool/(?i:cron)/.*',
];

function time(f: () => number): { ms: number; hits: number } {
  const t0 = performance.now();
  const hits = f();
  return { ms: performance.now() - t0, hits };
}

export async function* run(): AsyncIterable<BenchRecord> {
  const cols = parseBinaryColumns(
    generateBinary({
      entries: ENTRIES,
      seed: 10,
      templates: 'ima-ng',
      files: Math.round(ENTRIES / 3),
      reuse: 1,
    }),
  );
  const paths: string[] = [];
  for (let i = 0; i < cols.length; i++) paths.push(cols.path(i));
  const compileT0 = performance.now();
  const re2 = compileExcludes(EXCLUDES)!;
  const compileMs = performance.now() - compileT0;
  // The baseline: the same translated union in V8's engine (\p needs the u flag there).
  const union = `^(?:${EXCLUDES.map(
    (x) =>
      `(?:${pythonToRe2(x, 'x')
        .replace(/\\x\{([0-9a-f]+)\}/g, '\\u{$1}')
        .replace(/\\z/g, '$')
        .replace(/\\-/g, '-')})`,
  ).join('|')})`;
  const v8 = new RegExp(union, 'u');
  const count = (m: { test(s: string): boolean }) => () => {
    let n = 0;
    for (const p of paths) if (m.test(p)) n++;
    return n;
  };
  count(re2)(); // warm both up once
  count(v8)();
  const a = time(count(re2));
  const b = time(count(v8));
  yield { bench: 'ima-policy', metric: 'excludes_compile', value: compileMs, unit: 'ms', baseline: null };
  yield {
    bench: 'ima-policy',
    metric: `match_${paths.length}_paths`,
    value: a.ms,
    unit: 'ms',
    baseline: b.ms,
  };
  yield {
    bench: 'ima-policy',
    metric: 'match_ratio_re2_over_v8',
    value: a.ms / b.ms,
    unit: 'ratio',
    baseline: null,
  };
  yield { bench: 'ima-policy', metric: 'paths_excluded', value: a.hits, unit: 'paths', baseline: b.hits };
  const bad = compileExcludes(['(a+)+$'])!;
  const long = `${'a'.repeat(100_000)}!`;
  yield {
    bench: 'ima-policy',
    metric: 'catastrophic_re2_100000',
    value: time(() => Number(bad.test(long))).ms,
    unit: 'ms',
    baseline: null,
  };
  const slow = /^(?:(a+)+$)/;
  for (const n of [20, 23, 26]) {
    const s = `${'a'.repeat(n)}!`;
    yield {
      bench: 'ima-policy',
      metric: `catastrophic_v8_${n}`,
      value: time(() => Number(slow.test(s))).ms,
      unit: 'ms',
      baseline: null,
    };
  }
}
