import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import {
  appraise,
  buildEntry,
  compileExcludes,
  compilePolicy,
  parseRuntimePolicy,
  pythonToRe2,
} from '@tmb/core/ima';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { required } from '../../src/ima/excludes.ts';

// Keylime's excludes are Python `re` patterns, joined as "(a)|(b)|..." and matched with
// re.match. These tests hold tmb's linear-time matcher (regex.ts) to CPython's answers.

const vectors = JSON.parse(
  readFileSync(new URL('../vectors/ima-policy/regex.json', import.meta.url), 'utf8'),
) as { python: string; cases: { excludes: string[]; paths: string[]; match: boolean[] }[] };

const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof CoreError, `not a CoreError: ${err}`);
    return err.code;
  }
};

test("excludes answer as CPython's re.match over Keylime's joined list (known answers from Python)", () => {
  let refused = 0;
  let answered = 0;
  for (const c of vectors.cases) {
    let m: ReturnType<typeof compileExcludes>;
    try {
      m = compileExcludes(c.excludes);
    } catch (err) {
      // Only a construct tmb names as unsupported may be refused; Python accepted all of these.
      assert.equal((err as CoreError).code, 'IMA_POLICY_REGEX_UNSUPPORTED', (err as Error).message);
      refused++;
      continue;
    }
    c.paths.forEach((p, i) => {
      assert.equal(m!.test(p), c.match[i], `${JSON.stringify(c.excludes)} on ${JSON.stringify(p)}`);
      answered++;
    });
  }
  assert.ok(refused <= vectors.cases.length * 0.05, `${refused} of ${vectors.cases.length} refused`);
  assert.ok(answered > 3000);
});

test('Python constructs without a linear-time equivalent are refused, naming the construct', () => {
  const cases: [string, string][] = [
    ['(/a)\\1', 'backreference \\1'],
    ['(?P<d>/v)(?P=d)', 'backreference (?P=name)'],
    ['(?>/tmp/.*)', 'atomic group'],
    ['/tmp/.++', 'possessive quantifier'],
    ['/tmp/a*+', 'possessive quantifier'],
    ['(?i)/tmp', 'global flag (?i)'],
    ['(?s)/tmp', 'global flag (?s)'],
    ['(?x)/tmp # comment', 'global flag (?x)'],
    ['(?x:/tmp )', 'verbose flag'],
    ['/tmp/(?=x)', 'lookaround'],
    ['(?<!x)/tmp', 'lookaround'],
    ['\\bfoo', 'word boundary \\b'],
    ['/a$/b', '$ followed by more pattern'],
    ['x{1001}', 'repeat {1001}'],
    ['(?(1)a|b)', 'conditional group'],
    ['\\N{DASH}', 'named character'],
  ];
  for (const [pattern, construct] of cases) {
    assert.throws(
      () => compileExcludes(['/ok/.*', pattern]),
      (err: unknown) =>
        err instanceof CoreError &&
        err.code === 'IMA_POLICY_REGEX_UNSUPPORTED' &&
        err.message.includes('excludes[1]') &&
        err.message.includes(construct),
      pattern,
    );
  }
  // The same codes come out of a policy load, where the verifier reads its policy.
  const policy = { ...basePolicy, excludes: ['(?i)/tmp'] };
  assert.equal(
    code(() => parseRuntimePolicy(JSON.stringify(policy))),
    'IMA_POLICY_REGEX_UNSUPPORTED',
  );
});

test('patterns Python refuses are IMA_POLICY_INVALID, as are an empty exclude and one group name twice', () => {
  for (const p of ['*a', 'a**', '(a', 'a)', '\\q', '[a', 'a{5,2}', '(?L:a)', '(?<n>a)', '\\', '[z-a]']) {
    assert.equal(
      code(() => compileExcludes([p])),
      'IMA_POLICY_INVALID',
      p,
    );
  }
  // Keylime compiles the list as one pattern: a name reused across excludes breaks it.
  assert.equal(
    code(() => compileExcludes(['(?P<x>/a)', '(?P<x>/b)'])),
    'IMA_POLICY_INVALID',
  );
  // "" matches every path at its start: nothing would be appraised.
  assert.equal(
    code(() => compileExcludes(['/tmp', ''])),
    'IMA_POLICY_INVALID',
  );
});

test('Python-only syntax is translated with its meaning', () => {
  const answers: [string, string, boolean][] = [
    ['(?P<n>/var)/log/.*', '/var/log/x', true],
    ['boot\\Z', 'boot\n', false],
    ['boot$', 'boot\n', true], // Python's $ also matches before a final newline
    ['boot$', 'boot\nx', false],
    ['(?i:/TMP)/', '/tmp/', true],
    ['(?i:/tmp)/X', '/TMP/x', false],
    ['(?s:/a.b)', '/a\nb', true],
    ['/a.b', '/a\nb', false],
    ['/\\d+', '/٣', true], // \d is Unicode Nd for str patterns
    ['/\\w+', '/é', true],
    ['/\\s', '/\x1c', true], // str.isspace()
    ['/a{,2}b', '/aab', true],
    ['/x(?#a comment)y', '/xy', true],
    ['[]a]+$', ']a]', true],
    ['/\\x41\\u00e9', '/Aé', true],
    ['/tmp', '/x/tmp', false], // re.match: at the start only
    ['/bin/.', '/bin/\udc80', true], // a name that is not UTF-8 (surrogateescape) is a character
  ];
  for (const [pattern, path, want] of answers) {
    assert.equal(compileExcludes([pattern])!.test(path), want, `${pattern} on ${JSON.stringify(path)}`);
  }
  assert.equal(pythonToRe2('(?P<n>a)\\Z', 'x'), '(?:a)\\z');
});

test('a catastrophic-backtracking exclude is matched in linear time: appraisal of a long path ends', () => {
  const policy = compilePolicy(parseRuntimePolicy({ ...basePolicy, excludes: ['(a+)+$', '(x|x)*y'] }));
  const long = `${'a'.repeat(50_000)}!`;
  const a = appraise([buildEntry({ digest: new Uint8Array(32).fill(1), path: long }, 0)], policy);
  assert.equal(a.failures[0]?.code, 'IMA_FILE_NOT_IN_POLICY');
  assert.equal(policy.excludes!.test('x'.repeat(50_000)), false);
  assert.equal(policy.excludes!.test('aaaa'), true);
});

test('any text as an exclude either compiles or fails with a named code, and matching never throws', () => {
  const alphabet = fc.constantFrom(...'ab/.()[]{}*+?|^$\\-:=!<>#Pdwsi0123xuZAzé\n '.split(''));
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: alphabet, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
      fc.string(),
      (xs, path) => {
        let m: ReturnType<typeof compileExcludes>;
        try {
          m = compileExcludes(xs);
        } catch (err) {
          assert.ok(err instanceof CoreError, String(err));
          assert.ok(['IMA_POLICY_INVALID', 'IMA_POLICY_REGEX_UNSUPPORTED'].includes(err.code));
          return;
        }
        assert.equal(typeof m!.test(path), 'boolean');
      },
    ),
    { numRuns: 2000 },
  );
});

test('a quantifier after a comment repeats the item before it: the literal shortcuts do not require that item', () => {
  // CPython 3.11.7: re.match drops (?#...) before it reads a quantifier, so "/(?#c)*" is "/*";
  // a backslash pairs with the next character, so an escaped ) does not close a comment.
  const answers: [string[], string, boolean][] = [
    [['/(?#.*|)*', '/'], '', true], // found by the property below
    [['/(?#x)*'], '', true],
    [['/(?#x)?a'], 'a', true],
    [['/a(?#x){0,2}b'], '/b', true],
    [['/(?#x)(?#y)*'], 'a', true],
    [['/(?#x)+'], '', false],
    [['.*a(?#x)*b'], 'xb', true],
    [['.*a(?#x)?b/'], 'b/', true],
    [['.(?#x)*/tmp'], '/tmp', true],
    [['/x(?#c)y'], '/xy', true],
    [['/(?#\\))a'], '/a', true],
    [['/(?#\\))a'], '/)a', false],
    [['(?#\\).*a)b'], 'b', true],
  ];
  for (const [xs, path, want] of answers)
    assert.equal(compileExcludes(xs)!.test(path), want, `${JSON.stringify(xs)} on ${JSON.stringify(path)}`);
  const req: [string, string, string[]][] = [
    ['/(?#.*|)*', '', []],
    ['/a(?#x)?', '/', []],
    ['/a(?#x){2}', '/', []],
    ['/x(?#c)y/.*', '/xy/', []],
    ['.*a(?#x)*b', '', []],
    ['.(?#x)*/tmp(?#y)/x+', '', ['/tmp/']],
    ['.*(?#x)/tmp', '', ['/tmp']],
    ['/(?#\\)|x)a', '/a', []],
  ];
  for (const [pattern, prefix, inners] of req)
    assert.deepEqual(required(pattern), { prefix, inners }, pattern);
});

test('the literal-prefix shortcut answers as the one joined expression does', () => {
  // Excludes that start with a literal (or .* and a literal) are tried only on paths that
  // start with (or hold) it: never a different answer than running every pattern.
  const piece = fc.constantFrom(
    '/',
    'a',
    'b',
    '/a',
    '\\.',
    '.',
    '.*',
    '.+?',
    '[ab]',
    '(a|/)',
    '|',
    '$',
    '^',
    '*',
    '?',
    'b{2}',
    '[.*]',
    '\\.*',
    '(?#.*|)',
    '[]|]',
    '(?i:a)',
    '\\A',
    '.*?',
    '(?#\\))',
    '(?#)',
    '+',
    '{,2}',
  );
  const pattern = fc.array(piece, { minLength: 1, maxLength: 6 }).map((xs) => xs.join(''));
  fc.assert(
    fc.property(
      fc.array(pattern, { minLength: 1, maxLength: 4 }),
      fc.array(fc.string({ unit: fc.constantFrom('/', 'a', 'b', '.', '\n'), maxLength: 8 }), {
        maxLength: 8,
      }),
      (xs, paths) => {
        let m: ReturnType<typeof compileExcludes>;
        try {
          m = compileExcludes(xs);
        } catch {
          return;
        }
        const whole = RE2JS.compile(`^(?:${xs.map((x) => `(?:${pythonToRe2(x, 'x')})`).join('|')})`);
        for (const p of paths)
          assert.equal(m!.test(p), whole.test(p), `${JSON.stringify(xs)} on ${JSON.stringify(p)}`);
      },
    ),
    { numRuns: 3000 },
  );
});

const basePolicy = {
  meta: { version: 1, generator: 0 },
  release: 0,
  digests: {},
  excludes: [] as string[],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
};
