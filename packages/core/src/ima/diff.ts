import type { RuntimePolicy } from './policy.ts';

/** One difference between two runtime policies. */
export interface PolicyChange {
  /** Which member: `digests`, `keyrings`, `ima-buf`, `excludes` or `ima`. */
  section: 'digests' | 'keyrings' | 'ima-buf' | 'excludes' | 'ima';
  /** `+` only in the second policy, `-` only in the first. */
  sign: '+' | '-';
  /** Path, keyring or event name; the regex for excludes; the option for ima. */
  key: string;
  /** The digest or option value added or removed; empty for excludes. */
  value: string;
}

/**
 * Every allowance that one policy has and the other lacks, in a stable order (section, key,
 * removals before additions). Empty when both allow the same things; `meta` and `release` are
 * not compared.
 */
export function diffPolicies(a: RuntimePolicy, b: RuntimePolicy): PolicyChange[] {
  const out: PolicyChange[] = [];
  for (const section of ['digests', 'keyrings', 'ima-buf'] as const) {
    const keys = [...new Set([...Object.keys(a[section]), ...Object.keys(b[section])])].sort();
    for (const key of keys) {
      const av = new Set(a[section][key] ?? []);
      const bv = new Set(b[section][key] ?? []);
      for (const v of [...av].sort()) if (!bv.has(v)) out.push({ section, sign: '-', key, value: v });
      for (const v of [...bv].sort()) if (!av.has(v)) out.push({ section, sign: '+', key, value: v });
    }
  }
  const ax = new Set(a.excludes);
  const bx = new Set(b.excludes);
  for (const x of a.excludes) if (!bx.has(x)) out.push({ section: 'excludes', sign: '-', key: x, value: '' });
  for (const x of b.excludes) if (!ax.has(x)) out.push({ section: 'excludes', sign: '+', key: x, value: '' });
  const opts = (p: RuntimePolicy) =>
    new Map([
      ['log_hash_alg', p.ima.log_hash_alg],
      ['ignored_keyrings', JSON.stringify([...p.ima.ignored_keyrings].sort())],
      ['dm_policy', JSON.stringify(p.ima.dm_policy ?? null)],
      ['verification-keys', p['verification-keys']],
    ]);
  const ao = opts(a);
  for (const [k, bv] of opts(b)) {
    const av = ao.get(k)!;
    if (av === bv) continue;
    out.push({ section: 'ima', sign: '-', key: k, value: av });
    out.push({ section: 'ima', sign: '+', key: k, value: bv });
  }
  return out;
}
