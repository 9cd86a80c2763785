import { CoreError } from '../errors.ts';

// Keylime's excludes are Python `re` patterns, joined as "(a)|(b)|..." and matched with
// re.match (keylime/common/validators.py valid_exclude_list; keylime/ima/ima.py). They are
// matched here by a linear-time engine (re2js, a port of RE2): a policy is input, and a
// backtracking engine lets one exclude such as `(a+)+$` stall the verifier on a long path.
// Each Python construct is translated to RE2 syntax with the same meaning, or refused:
// IMA_POLICY_REGEX_UNSUPPORTED where Python accepts it but RE2 cannot match it the same way,
// IMA_POLICY_INVALID where Python itself refuses it. Written by hand: no maintained library
// translates Python patterns to RE2. docs/policy.md lists the rules.

/** Caps on excludes: a real policy has tens of short ones. */
export const EXCLUDE_LIMITS = { count: 10_000, length: 4096, repeat: 1000 } as const;

// Python's \s for str patterns (str.isspace): ASCII whitespace, the separators 0x1c-0x1f and
// Unicode's spaces. \d is Unicode Nd; \w is str.isalnum() or '_' (letters and numbers).
const WS =
  '\\t\\n\\x{0b}\\x{0c}\\r\\x{1c}-\\x{1f} \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}';
const WORD = '\\p{L}\\p{N}_';
const OCT = /^[0-7]$/;
const HEX = /^[0-9a-fA-F]$/;
const ASCII_LETTER = /^[A-Za-z]$/;
const NAME = /^[\p{L}_][\p{L}\p{N}_]*$/u;
const CONTROL: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

/**
 * One Python `re` pattern in RE2 syntax, same matches on every string. `names` collects named
 * groups across the whole exclude list (Keylime compiles the list as one pattern, where a name
 * used twice is an error).
 * @throws CoreError IMA_POLICY_REGEX_UNSUPPORTED naming the construct, IMA_POLICY_INVALID when
 *   Python refuses the pattern
 */
export function pythonToRe2(pattern: string, where: string, names: Set<string> = new Set()): string {
  const cs = [...pattern];
  const n = cs.length;
  const out: string[] = [];
  const multiline: boolean[] = [false];
  let last: 'none' | 'anchor' | 'atom' | 'repeat' = 'none';
  let i = 0;
  const unsupported = (what: string, why: string): never => {
    throw new CoreError(
      'IMA_POLICY_REGEX_UNSUPPORTED',
      `${where} ${JSON.stringify(pattern)}: ${what} at position ${i} is not supported: ${why}`,
    );
  };
  const invalid = (why: string): never => {
    throw new CoreError(
      'IMA_POLICY_INVALID',
      `${where} ${JSON.stringify(pattern)} is not a Python regular expression: ${why} at position ${i}`,
    );
  };
  const hexEscape = (len: number): string => {
    const digits = cs.slice(i + 2, i + 2 + len);
    if (digits.length !== len || !digits.every((d) => HEX.test(d)))
      invalid(`incomplete escape \\${cs[i + 1]}`);
    const cp = Number.parseInt(digits.join(''), 16);
    if (cp > 0x10ffff) invalid('escape beyond U+10FFFF');
    i += 2 + len;
    return `\\x{${cp.toString(16)}}`;
  };
  const octal = (maxDigits: number): string => {
    let j = i + 1;
    let s = '';
    while (s.length < maxDigits && j < n && OCT.test(cs[j]!)) s += cs[j++];
    const cp = Number.parseInt(s, 8);
    if (cp > 0o377) invalid(`octal escape \\${s} outside 0-0o377`);
    i = j;
    return `\\x{${cp.toString(16)}}`;
  };
  /** An escape inside or outside a set; returns the RE2 text, `set` = inside [...]. */
  const escapeAt = (set: boolean): { re: string; single: boolean; cp?: number } => {
    const d = cs[i + 1];
    if (d === undefined) invalid('bad escape (end of pattern)');
    const e = d!;
    const shorthand = (re: string) => {
      i += 2;
      return { re, single: false };
    };
    switch (e) {
      case 'd':
        return shorthand('\\p{Nd}');
      case 'D':
        return shorthand('\\P{Nd}');
      case 'w':
        return shorthand(set ? WORD : `[${WORD}]`);
      case 's':
        return shorthand(set ? WS : `[${WS}]`);
      case 'W':
      case 'S':
        if (set)
          unsupported(
            `\\${e} inside a set`,
            'write the negation as its own set outside, e.g. (?:[^...]|...)',
          );
        return shorthand(e === 'W' ? `[^${WORD}]` : `[^${WS}]`);
      case 'x':
        return literalOf(hexEscape(2));
      case 'u':
        return literalOf(hexEscape(4));
      case 'U':
        return literalOf(hexEscape(8));
      case 'N':
        return unsupported('named character \\N{...}', 'write the character itself or \\uXXXX');
      case 'a':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
        i += 2;
        return { re: `\\${e}`, single: true, cp: CONTROL[e] };
      case 'b':
        if (set) {
          i += 2;
          return { re: '\\x{8}', single: true, cp: 8 };
        }
        return unsupported(
          'word boundary \\b',
          "Python's is Unicode-aware, the linear-time engine's ASCII-only",
        );
      case 'B':
        if (set) invalid('bad escape \\B');
        return unsupported(
          '\\B',
          "Python's word boundary is Unicode-aware, the linear-time engine's ASCII-only",
        );
      case 'A':
      case 'Z':
        if (set) invalid(`bad escape \\${e}`);
        i += 2;
        return { re: e === 'A' ? '\\A' : '\\z', single: false };
    }
    if (e === '0') return literalOf(octal(3));
    if (/^[1-9]$/.test(e)) {
      const o = cs.slice(i + 1, i + 4);
      if (set || (o.length === 3 && /^[0-3]$/.test(o[0]!) && OCT.test(o[1]!) && OCT.test(o[2]!))) {
        if (!OCT.test(e)) invalid(`bad escape \\${e}`);
        return literalOf(octal(3));
      }
      return unsupported(
        `backreference \\${e}`,
        'the linear-time engine has no backreferences (and Keylime joins excludes as "(a)|(b)|...", so group numbers count across the whole list)',
      );
    }
    if (ASCII_LETTER.test(e)) invalid(`bad escape \\${e}`);
    i += 2;
    return { re: lit(e), single: true, cp: e.codePointAt(0)! };
  };
  const literalOf = (re: string) => ({ re, single: true, cp: Number.parseInt(re.slice(3, -1), 16) });

  while (i < n) {
    const c = cs[i]!;
    if (c === '\\') {
      const e = escapeAt(false);
      last = e.re === '\\A' || e.re === '\\z' ? 'anchor' : 'atom';
      out.push(e.re);
    } else if (c === '[') {
      out.push(charSet());
      last = 'atom';
    } else if (c === '(') {
      openGroup();
    } else if (c === ')') {
      if (multiline.length === 1) invalid('unbalanced parenthesis');
      multiline.pop();
      out.push(')');
      i++;
      last = 'atom';
    } else if (c === '|') {
      out.push('|');
      i++;
      last = 'none';
    } else if (c === '*' || c === '+' || c === '?' || (c === '{' && repeatAt(i) !== null)) {
      quantifier();
    } else if (c === '$') {
      const next = cs[i + 1];
      if (next !== undefined && '*+?{'.includes(next)) {
        i++;
        invalid('nothing to repeat');
      }
      // Python's $ also matches before a final newline: consume it, which is the same answer
      // only when nothing but group ends follow in this alternative.
      let j = i + 1;
      while (cs[j] === ')') j++;
      if (multiline.at(-1)) out.push('$');
      else if (cs[j] === undefined || cs[j] === '|') out.push('(?:\\n?\\z)');
      else
        unsupported(
          '$ followed by more pattern',
          'put $ last in its alternative, or use \\Z for the very end',
        );
      i++;
      last = 'anchor';
    } else if (c === '^') {
      out.push('^');
      i++;
      last = 'anchor';
    } else if (c === '.') {
      out.push('.');
      i++;
      last = 'atom';
    } else {
      out.push(lit(c));
      i++;
      last = 'atom';
    }
  }
  if (multiline.length > 1) invalid('missing ), unterminated subpattern');
  return out.join('');

  function quantifier(): void {
    if (last === 'none' || last === 'anchor') invalid('nothing to repeat');
    if (last === 'repeat') invalid('multiple repeat');
    const c = cs[i]!;
    if (c === '{') {
      const r = repeatAt(i)!;
      if (r.max !== null && r.min > r.max) invalid('min repeat greater than max repeat');
      if (r.min > EXCLUDE_LIMITS.repeat || (r.max ?? 0) > EXCLUDE_LIMITS.repeat)
        unsupported(`repeat {${r.text}}`, `counts above ${EXCLUDE_LIMITS.repeat} (RE2's limit)`);
      out.push(`{${r.min},${r.max ?? ''}}`);
      i += r.length;
    } else {
      out.push(c);
      i++;
    }
    if (cs[i] === '?') {
      out.push('?');
      i++;
    } else if (cs[i] === '+') {
      unsupported('possessive quantifier', 'the linear-time engine has none; drop the trailing +');
    }
    last = 'repeat';
  }

  function repeatAt(at: number): { min: number; max: number | null; text: string; length: number } | null {
    // Python's sre_parse: {m}, {m,}, {,n}, {m,n}, {,}; anything else is a literal "{".
    const m = /^\{(\d*)(?:(,)(\d*))?\}/.exec(cs.slice(at, at + 24).join(''));
    if (m === null || (m[1] === '' && m[2] === undefined)) return null;
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? null : Number(m[3]);
    return { min, max, text: m[0].slice(1, -1), length: m[0].length };
  }

  function openGroup(): void {
    const mine = multiline.at(-1)!;
    if (cs[i + 1] !== '?') {
      out.push('(?:');
      multiline.push(mine);
      i++;
      last = 'none';
      return;
    }
    const k = cs[i + 2];
    if (k === ':') {
      out.push('(?:');
      multiline.push(mine);
      i += 3;
    } else if (k === 'P' && cs[i + 3] === '<') {
      const end = cs.indexOf('>', i + 4);
      if (end < 0) invalid('missing >, unterminated name');
      const name = cs.slice(i + 4, end).join('');
      if (!NAME.test(name)) invalid(`bad character in group name ${JSON.stringify(name)}`);
      if (names.has(name))
        invalid(
          `redefinition of group name ${JSON.stringify(name)} (Keylime compiles all excludes as one pattern)`,
        );
      names.add(name);
      out.push('(?:');
      multiline.push(mine);
      i = end + 1;
    } else if (k === 'P' && cs[i + 3] === '=') {
      unsupported('backreference (?P=name)', 'the linear-time engine has no backreferences');
    } else if (k === '#') {
      const end = commentEnd(cs, i);
      if (end < 0) invalid('missing ), unterminated comment');
      // A comment: Python drops it, so a quantifier after it repeats the item before it
      // (`/(?#c)*` is `/*`); the translation drops it too and keeps `last` as it was.
      i = end + 1;
      return;
    } else if (k === '=' || k === '!' || (k === '<' && (cs[i + 3] === '=' || cs[i + 3] === '!'))) {
      unsupported('lookaround', 'the linear-time engine has no lookahead or lookbehind');
    } else if (k === '>') {
      unsupported(
        'atomic group (?>...)',
        'the linear-time engine has none; a plain group (?:...) matches the same paths unless the group backtracks',
      );
    } else if (k === '(') {
      unsupported('conditional group (?(...)...)', 'the linear-time engine has none');
    } else if (k !== undefined && /[aiLmsux-]/.test(k)) {
      scopedFlags(mine);
    } else {
      invalid(`unknown extension ?${k ?? ''}`);
    }
    last = 'none';
  }

  function scopedFlags(mine: boolean): void {
    let j = i + 2;
    let on = '';
    let off = '';
    while (j < n && /[aiLmsux]/.test(cs[j]!)) on += cs[j++];
    if (cs[j] === '-') {
      j++;
      while (j < n && /[aiLmsux]/.test(cs[j]!)) off += cs[j++];
      if (off === '') invalid('missing flag');
    }
    if (cs[j] === ')') {
      i = j;
      unsupported(
        `global flag (?${on}${off ? `-${off}` : ''})`,
        'Keylime joins excludes as "(a)|(b)|...", where Python 3.11 refuses a global flag (and older Pythons applied it to every exclude): write a scoped group such as (?i:...)',
      );
    }
    if (cs[j] !== ':') invalid('missing -, : or )');
    if (on.includes('L')) invalid("cannot use 'L' flag with a str pattern");
    if (/[aux]/.test(off)) invalid('bad inline flags: cannot turn off flags a, u and x');
    if (on.includes('x'))
      unsupported('verbose flag (?x:...)', 'write the pattern without whitespace and # comments');
    if (on.includes('a')) unsupported('ASCII flag (?a:...)', 'write the ASCII sets out, e.g. [0-9] for \\d');
    const keep = (s: string) => [...s].filter((f) => 'ims'.includes(f)).join('');
    const re2On = keep(on);
    const re2Off = keep(off);
    out.push(re2On === '' && re2Off === '' ? '(?:' : `(?${re2On}${re2Off ? `-${re2Off}` : ''}:`);
    multiline.push(on.includes('m') ? true : off.includes('m') ? false : mine);
    i = j + 1;
  }

  function charSet(): string {
    i++;
    let re = '[';
    if (cs[i] === '^') {
      re += '^';
      i++;
    }
    let first = true;
    for (;;) {
      if (i >= n) invalid('unterminated character set');
      if (cs[i] === ']' && !first) break;
      first = false;
      const lo = setItem();
      if (cs[i] === '-' && i + 1 < n && cs[i + 1] !== ']') {
        i++;
        const hi = setItem();
        if (lo.cp === undefined || hi.cp === undefined) invalid('bad character range');
        if (lo.cp! > hi.cp!) invalid('bad character range');
        re += `${lo.re}-${hi.re}`;
      } else re += lo.re;
    }
    i++;
    return `${re}]`;
  }

  function setItem(): { re: string; cp?: number } {
    if (cs[i] === '\\') return escapeAt(true);
    const c = cs[i++]!;
    return { re: lit(c), cp: c.codePointAt(0)! };
  }
}

/**
 * Where the comment `(?#...)` opening at `from` ends: the index of its `)`, -1 when it is not
 * closed. Python's tokenizer reads a backslash and the character after it as one token, so an
 * escaped `\)` does not close the comment (`(?#\))` is one comment).
 */
export function commentEnd(pattern: ArrayLike<string>, from: number): number {
  for (let j = from + 3; j < pattern.length; j++) {
    if (pattern[j] === '\\') j++;
    else if (pattern[j] === ')') return j;
  }
  return -1;
}

/** A literal code point in RE2 syntax (escaped where RE2 gives it a meaning). */
function lit(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) return `\\x{${cp.toString(16)}}`;
  if (cp < 0x80 && !/[A-Za-z0-9 _]/.test(c)) return `\\${c}`;
  return c;
}
