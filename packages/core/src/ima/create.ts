import { CoreError } from '../errors.ts';
import { compileExcludes, parseRuntimePolicy, type RuntimePolicy } from './policy.ts';
import type { ImaEntry } from './types.ts';

/** Options of createPolicy(). */
export interface CreatePolicyOptions {
  /** Exclude regexes to write into the policy (entries they match are left out). Default none. */
  excludes?: string[];
  /** `meta.timestamp`; core has no clock, so the caller passes one. Default: left out. */
  timestamp?: string;
  /** `release`. Default 0. */
  release?: number;
  /**
   * `ima.log_hash_alg`: the template hash algorithm of the logs the policy will appraise.
   * Default: the first entry's (sha1 for the kernel's classic lists, the bank's for a per-bank
   * list), or sha1 when there are no entries.
   */
  logHashAlg?: RuntimePolicy['ima']['log_hash_alg'];
}

/**
 * A Keylime runtime policy (v1) that allows exactly what `entries` measured: each file path
 * with every digest it was seen with, each keyring key (an ima-buf entry on a name starting
 * with `.`) under `keyrings`, every other ima-buf event under `ima-buf`. Violations are left
 * out (their digest is zero). Keys are in log order, digests in first-seen order, so the same
 * log always gives the same bytes.
 * @throws CoreError IMA_POLICY_INVALID when an exclude does not compile
 */
export function createPolicy(entries: readonly ImaEntry[], options: CreatePolicyOptions = {}): RuntimePolicy {
  const digests = new Map<string, Set<string>>();
  const keyrings = new Map<string, Set<string>>();
  const imaBuf = new Map<string, Set<string>>();
  const excludes = options.excludes ?? [];
  const skip = compileExcludes(excludes);
  for (const e of entries) {
    const path = e.path;
    if (e.violation || skip?.test(path)) continue;
    const into = e.template !== 'ima-buf' ? digests : path.startsWith('.') ? keyrings : imaBuf;
    const set = into.get(path);
    if (set === undefined) into.set(path, new Set([e.digest]));
    else set.add(e.digest);
  }
  const record = (m: Map<string, Set<string>>) => {
    const out: Record<string, string[]> = Object.create(null);
    for (const [k, v] of m) out[k] = [...v];
    return out;
  };
  return {
    meta: {
      version: 1,
      generator: 0,
      ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    },
    release: options.release ?? 0,
    digests: record(digests),
    excludes: [...excludes],
    keyrings: record(keyrings),
    ima: {
      ignored_keyrings: [],
      log_hash_alg: options.logHashAlg ?? entries[0]?.templateHashAlg ?? 'sha1',
      dm_policy: null,
    },
    'ima-buf': record(imaBuf),
    'verification-keys': '',
  };
}

/** Options of convertAllowlist(). */
export interface ConvertOptions {
  /** Exclude regexes (an exclude list file's lines, `#` comments and blank lines dropped). */
  excludes?: string[];
  /** `meta.timestamp`; core has no clock. Default: left out. */
  timestamp?: string;
}

/**
 * A runtime policy from a legacy Keylime allowlist, as keylime_convert_runtime_policy
 * (keylime/cmd/convert_runtime_policy.py) makes one: the flat `digest  path` text
 * (sha256sum's output; a `%keyring:NAME` path goes under `keyrings`), a JSON allowlist with
 * `hashes`, or a verifier's stored `{"allowlist": ..., "exclude": [...]}`; `meta.generator` 3
 * (legacy allowlist), `log_hash_alg` sha1. One deliberate difference: a digest written with an
 * algorithm prefix (`sha256:<hex>`) or in upper case is stored as bare lower-case hex, which
 * Keylime's schema requires (its converter keeps the prefix, and its verifier then never
 * matches that digest).
 * @throws CoreError IMA_POLICY_INVALID when a line is not `digest path`, a digest is not hex,
 *   the input is already a runtime policy, or an exclude does not compile
 */
export function convertAllowlist(text: string, options: ConvertOptions = {}): RuntimePolicy {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const digests: Record<string, string[]> = Object.create(null);
  const keyrings: Record<string, string[]> = Object.create(null);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  let rest: Record<string, unknown> = {};
  let excludes = options.excludes ?? [];
  if (json !== undefined) {
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new CoreError('IMA_POLICY_INVALID', 'allowlist: JSON, but not an object');
    const o = json as Record<string, unknown>;
    if ('digests' in o)
      throw new CoreError('IMA_POLICY_INVALID', 'allowlist: this is already a runtime policy ("digests")');
    const list = (typeof o.allowlist === 'object' && o.allowlist !== null ? o.allowlist : o) as Record<
      string,
      unknown
    >;
    if (typeof list.hashes !== 'object' || list.hashes === null || Array.isArray(list.hashes))
      throw new CoreError('IMA_POLICY_INVALID', 'allowlist: JSON without a "hashes" object');
    for (const [path, hashes] of Object.entries(list.hashes as Record<string, unknown>)) {
      if (!Array.isArray(hashes))
        throw new CoreError('IMA_POLICY_INVALID', `allowlist: hashes[${JSON.stringify(path)}] is not a list`);
      for (const h of hashes) add(digests, path, bare(String(h), path));
    }
    rest = list;
    if (Array.isArray(o.exclude) && options.excludes === undefined) excludes = o.exclude.map(String);
  } else {
    body.split(/\r?\n/).forEach((raw, n) => {
      const line = raw.trim();
      if (line === '') return;
      const m = /^(\S+)\s+(.+)$/.exec(line);
      if (m === null)
        throw new CoreError(
          'IMA_POLICY_INVALID',
          `allowlist line ${n + 1}: not "digest path": ${JSON.stringify(line.slice(0, 80))}`,
        );
      const path = m[2]!;
      if (path.startsWith('%keyring:')) add(keyrings, path.slice('%keyring:'.length), bare(m[1]!, path));
      else add(digests, path, bare(m[1]!, path));
    });
  }
  const member = <T>(k: string, fallback: T): T => (rest[k] ? (rest[k] as T) : fallback);
  return parseRuntimePolicy({
    meta: {
      version: 1,
      generator: 3,
      ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    },
    release: member('release', 0),
    digests,
    excludes: [...excludes],
    keyrings: { ...keyrings, ...member<Record<string, string[]>>('keyrings', {}) },
    // An older allowlist's `ima` has no dm_policy: Keylime's default fills it.
    ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null, ...member('ima', {}) },
    'ima-buf': member('ima-buf', {}),
    'verification-keys': member('verification-keys', ''),
  });
}

function bare(digest: string, path: string): string {
  const hex = (digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest).toLowerCase();
  if (!/^[0-9a-f]{40,128}$/.test(hex))
    throw new CoreError(
      'IMA_POLICY_INVALID',
      `allowlist: ${JSON.stringify(digest)} for ${JSON.stringify(path)} is not a hex digest`,
    );
  return hex;
}

function add(into: Record<string, string[]>, key: string, digest: string): void {
  const list = into[key];
  if (list === undefined) into[key] = [digest];
  else if (!list.includes(digest)) list.push(digest);
}
