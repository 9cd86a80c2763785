import { RE2JS } from 're2js';
import { CoreError } from '../errors.ts';
import { commentEnd, EXCLUDE_LIMITS, pythonToRe2 } from './regex.ts';

// Keylime's exclude list as one matcher (docs/policy.md, "Excludes"): each pattern translated
// by regex.ts, matched by RE2 (linear time) at the path's start, like Python's
// re.match("(a)|(b)|...", path).

/** What judge() and createPolicy() need of compiled excludes: a match at the path's start. */
export interface PathMatcher {
  test(path: string): boolean;
}

/**
 * Compiles Keylime's exclude list into one matcher that answers like Python's
 * `re.match("(a)|(b)|...", path)`: a match at the path's start. Null when the list is empty.
 * Matching is linear in the path's length whatever the patterns (RE2).
 * @throws CoreError IMA_POLICY_REGEX_UNSUPPORTED / IMA_POLICY_INVALID naming the exclude
 */
export function compilePythonExcludes(excludes: readonly string[]): PathMatcher | null {
  if (excludes.length === 0) return null;
  if (excludes.length > EXCLUDE_LIMITS.count)
    throw new CoreError(
      'IMA_POLICY_INVALID',
      `excludes: ${excludes.length} patterns, at most ${EXCLUDE_LIMITS.count}`,
    );
  const names = new Set<string>();
  const parts = excludes.map((x, k) => {
    const where = `excludes[${k}]`;
    if (x.length > EXCLUDE_LIMITS.length)
      throw new CoreError(
        'IMA_POLICY_INVALID',
        `${where}: ${x.length} characters, at most ${EXCLUDE_LIMITS.length}`,
      );
    if (x === '')
      throw new CoreError(
        'IMA_POLICY_INVALID',
        `${where} is empty: Python matches it at the start of every path, so nothing would be appraised`,
      );
    const re = pythonToRe2(x, where, names);
    try {
      RE2JS.compile(re);
    } catch (cause) {
      throw new CoreError(
        'IMA_POLICY_INVALID',
        `${where} ${JSON.stringify(x)}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    return `(?:${re})`;
  });
  // Most excludes start with a literal directory (`/var/log/.*`) or hold a literal after a
  // `.*` (`.*/__pycache__/.*`, `/usr/lib/.*\.pyc$`): a path that does not start with the first
  // or hold the second cannot match, and startsWith/includes cost ~20 ns against ~1.3 us for a
  // call into the engine (bench/ima-policy.bench.ts), so such a pattern runs only on the paths
  // that pass its filter; the others run, joined, on every path.
  const filtered: { prefix: string; inners: string[]; re: RE2JS }[] = [];
  const others: string[] = [];
  excludes.forEach((x, k) => {
    const r = required(x);
    if (r.prefix === '' && r.inners.length === 0) others.push(parts[k]!);
    else filtered.push({ ...r, re: RE2JS.compile(`^${parts[k]}`) });
  });
  const rest = others.length === 0 ? null : RE2JS.compile(`^(?:${others.join('|')})`);
  return {
    test(path: string): boolean {
      if (rest?.test(path)) return true;
      for (const f of filtered) {
        if (!path.startsWith(f.prefix)) continue;
        if (f.inners.every((x) => path.includes(x)) && f.re.test(path)) return true;
      }
      return false;
    },
  };
}

/**
 * Literal text every match of a Python pattern holds: the ASCII literal it starts with, and
 * those that follow each `.*` / `.+` outside groups and sets. Nothing when an alternation is at
 * the top (its branches need not share any). A literal character counts only when no
 * quantifier follows it, comments `(?#...)` between them included: Python drops a comment
 * before it reads the quantifier, so `/(?#c)*` is `/*` and requires nothing.
 */
export function required(pattern: string): { prefix: string; inners: string[] } {
  const top = topLevel(pattern);
  if (top === null) return { prefix: '', inners: [] };
  const inners: string[] = [];
  for (const i of top) {
    if (pattern[i] !== '.') continue;
    const q = skipComments(pattern, i + 1);
    if (pattern[q] !== '*' && pattern[q] !== '+') continue;
    const after = pattern[q + 1] === '?' ? q + 2 : q + 1;
    const lit = literalAt(pattern, after);
    if (lit !== '') inners.push(lit);
  }
  return { prefix: literalPrefix(pattern), inners };
}

/**
 * The ASCII literal text every match of a Python pattern starts with ('' when there is none
 * that is certain: an alternation at the top, a set, a group, a quantified last character).
 */
export function literalPrefix(pattern: string): string {
  if (topLevel(pattern) === null) return '';
  return literalAt(pattern, pattern.startsWith('^') ? 1 : pattern.startsWith('\\A') ? 2 : 0);
}

/** Positions of the characters outside groups, sets and escapes; null when `|` is among them. */
function topLevel(pattern: string): number[] | null {
  const out: number[] = [];
  let depth = 0;
  let setFirst = -1; // inside a set: where its first member is (a `]` there is literal)
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (setFirst >= 0) {
      if (c === ']' && i !== setFirst) setFirst = -1;
    } else if (c === '[') setFirst = pattern[i + 1] === '^' ? i + 2 : i + 1;
    else if (c === '(' && pattern.startsWith('(?#', i)) {
      const end = commentEnd(pattern, i);
      if (end < 0) return null;
      i = end;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0) {
      if (c === '|') return null;
      out.push(i);
    }
  }
  return out;
}

/** `at`, or the index past the comments `(?#...)` that start there. */
function skipComments(pattern: string, at: number): number {
  let i = at;
  while (pattern.startsWith('(?#', i)) {
    const end = commentEnd(pattern, i);
    if (end < 0) return i;
    i = end + 1;
  }
  return i;
}

/**
 * The literal characters from `from` on, up to the first that is not one or is quantified
 * (looking past comments for the quantifier, and reading on past them).
 */
function literalAt(pattern: string, from: number): string {
  let i = skipComments(pattern, from);
  let out = '';
  while (i < pattern.length) {
    const c = pattern[i]!;
    let lit: string;
    let len = 1;
    if (/[A-Za-z0-9/_ -]/.test(c)) lit = c;
    else if (c === '\\' && /[!-/:-@[-`{-~]/.test(pattern[i + 1] ?? 'a')) {
      lit = pattern[i + 1]!;
      len = 2;
    } else break;
    const next = skipComments(pattern, i + len);
    if (next < pattern.length && '*?{+'.includes(pattern[next]!)) break;
    out += lit;
    i = next;
  }
  return out;
}
