import { CoreError } from '../errors.ts';

// Keylime's runtime policy, format version 1, accepted as it is so that hosts already attested
// with Keylime reuse their policies. Shape: keylime/ima/types.py (RuntimePolicyType) and the
// JSON schema in keylime/ima/ima.py (RUNTIME_POLICY_SCHEMA); meaning: keylime/ima/ima.py
// (_validate_ima_ng, _validate_ima_buf). docs/policy.md restates both.

/** `meta` of a Keylime runtime policy. */
export interface RuntimePolicyMeta {
  /** Always 1 (RUNTIME_POLICY_CURRENT_VERSION). */
  version: 1;
  /** Keylime's RUNTIME_POLICY_GENERATOR: 0 unknown, 1 empty, 2 compatible, 3 legacy allowlist. */
  generator?: number;
  timestamp?: string;
}

/** Keylime runtime policy v1, field names as Keylime writes them. */
export interface RuntimePolicy {
  meta: RuntimePolicyMeta;
  release?: number;
  /** Path (or event name, e.g. `boot_aggregate`) to allowed file digests, lower-case hex. */
  digests: Record<string, string[]>;
  /** Python regular expressions; a path that one matches at its start is not appraised. */
  excludes: string[];
  /** Keyring name (e.g. `.ima`) to allowed digests of keys loaded onto it. */
  keyrings: Record<string, string[]>;
  ima: {
    /** Keyrings whose key entries are not checked; `*` for all. */
    ignored_keyrings: string[];
    log_hash_alg: 'sha1' | 'sha256' | 'sha384' | 'sha512';
    /** Device-mapper policy; Keylime's schema allows only null. Kept, not evaluated. */
    dm_policy: unknown;
  };
  /** `ima-buf` event name to allowed digests. */
  'ima-buf': Record<string, string[]>;
  /** Keys for ima-sig signatures (PEM / JSON text). Kept, not evaluated: see docs/policy.md. */
  'verification-keys': string;
  rules?: string;
}

const HEX_DIGEST = /^[0-9a-f]{40,128}$/;
const LOG_HASH_ALGS = ['sha1', 'sha256', 'sha384', 'sha512'];

/**
 * Reads a Keylime runtime policy (JSON text or already-parsed value) and checks it against
 * Keylime's schema: the seven required members, `meta.version` 1, digests as lower-case hex
 * of 40 to 128 digits, excludes that compile. Unknown members are ignored, as Keylime does.
 * A parsed value's digest maps and lists are used as they are (not copied): do not change them.
 * @throws CoreError IMA_POLICY_INVALID naming the member that is wrong
 */
export function parseRuntimePolicy(input: string | unknown): RuntimePolicy {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch (cause) {
      throw new CoreError('IMA_POLICY_INVALID', 'runtime policy is not JSON', { cause });
    }
  }
  const p = obj(v, 'policy');
  const meta = obj(p.meta, 'meta');
  if (meta.version !== 1) bad('meta.version', `expected 1, found ${JSON.stringify(meta.version)}`);
  if (meta.generator !== undefined && !Number.isInteger(meta.generator))
    bad('meta.generator', 'not an integer');
  if (meta.timestamp !== undefined && typeof meta.timestamp !== 'string')
    bad('meta.timestamp', 'not a string');
  if (p.release !== undefined && !(Number.isInteger(p.release) && (p.release as number) >= 0)) {
    bad('release', 'not a non-negative integer');
  }
  const ima = obj(p.ima, 'ima');
  const alg = ima.log_hash_alg;
  if (typeof alg !== 'string' || !LOG_HASH_ALGS.includes(alg))
    bad('ima.log_hash_alg', `unknown ${JSON.stringify(alg)}`);
  if (!('dm_policy' in ima)) bad('ima.dm_policy', 'missing');
  if (typeof p['verification-keys'] !== 'string') bad('verification-keys', 'not a string');
  if (p.rules !== undefined && typeof p.rules !== 'string') bad('rules', 'not a string');
  const excludes = strings(p.excludes, 'excludes');
  compileExcludes(excludes);
  return {
    meta: {
      version: 1,
      ...(meta.generator !== undefined ? { generator: meta.generator as number } : {}),
      ...(meta.timestamp !== undefined ? { timestamp: meta.timestamp as string } : {}),
    },
    ...(p.release !== undefined ? { release: p.release as number } : {}),
    digests: digests(p.digests, 'digests'),
    excludes,
    keyrings: digests(p.keyrings, 'keyrings'),
    ima: {
      ignored_keyrings: strings(ima.ignored_keyrings, 'ima.ignored_keyrings'),
      log_hash_alg: alg as RuntimePolicy['ima']['log_hash_alg'],
      dm_policy: ima.dm_policy,
    },
    'ima-buf': digests(p['ima-buf'], 'ima-buf'),
    'verification-keys': p['verification-keys'] as string,
    ...(p.rules !== undefined ? { rules: p.rules as string } : {}),
  };
}

/**
 * One JS regular expression for Keylime's exclude list, matched at the start of a path like
 * Python's re.match over "(a)|(b)|...". Python-only syntax is translated: (?P<n>...) to
 * (?<n>...), (?P=n) to \k<n>, \A to ^ and \Z to $. Null when the list is empty.
 * @throws CoreError IMA_POLICY_INVALID naming the expression that does not compile
 */
export function compileExcludes(excludes: readonly string[]): RegExp | null {
  if (excludes.length === 0) return null;
  const parts = excludes.map((x, i) => {
    const js = x
      .replace(/\(\?P</g, '(?<')
      .replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
      .replace(/\\A/g, '^')
      .replace(/\\Z/g, '$');
    try {
      new RegExp(js);
    } catch (cause) {
      throw new CoreError(
        'IMA_POLICY_INVALID',
        `excludes[${i}] ${JSON.stringify(x)} is not a regular expression`,
        {
          cause,
        },
      );
    }
    return `(?:${js})`;
  });
  return new RegExp(`^(?:${parts.join('|')})`);
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(where, 'not an object');
  return v as Record<string, unknown>;
}

function strings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) bad(where, 'not an array of strings');
  return [...(v as string[])];
}

function digests(v: unknown, where: string): Record<string, string[]> {
  const o = obj(v, where);
  // A null-prototype map (a key may be "constructor"); the lists are checked, not copied: a
  // 100,000-path policy would otherwise hold every list twice while it loads.
  const out: Record<string, string[]> = Object.create(null);
  for (const k of Object.keys(o)) {
    const list = o[k];
    if (!Array.isArray(list) || list.length === 0 || !list.every(isDigest))
      bad(`${where}[${JSON.stringify(k)}]`, whyNot(list));
    out[k] = list as string[];
  }
  return out;
}

function isDigest(h: unknown): boolean {
  return typeof h === 'string' && HEX_DIGEST.test(h);
}

/** Why a digest list is not valid (only called when it is not). */
function whyNot(list: unknown): string {
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) return 'not an array of strings';
  if (list.length === 0) return 'empty list (Keylime requires at least one digest)';
  const h = list.find((x) => !HEX_DIGEST.test(x as string));
  return `${JSON.stringify(h)} is not lower-case hex of 40 to 128 digits`;
}

function bad(where: string, what: string): never {
  throw new CoreError('IMA_POLICY_INVALID', `runtime policy ${where}: ${what}`);
}
