import { compileExcludes, type RuntimePolicy } from './policy.ts';
import type { ImaEntry } from './types.ts';

/** Options of createPolicy(). */
export interface CreatePolicyOptions {
  /** Exclude regexes to write into the policy (entries they match are left out). Default none. */
  excludes?: string[];
  /** `meta.timestamp`; core has no clock, so the caller passes one. Default: left out. */
  timestamp?: string;
  /** `release`. Default 0. */
  release?: number;
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
    ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
    'ima-buf': record(imaBuf),
    'verification-keys': '',
  };
}
