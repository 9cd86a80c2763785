import { CoreError } from '../errors.ts';
import { type EnvelopeOptions, isEnvelope, openEnvelope } from './dsse.ts';
import { compilePythonExcludes, type PathMatcher } from './excludes.ts';

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
    /** Device-mapper policy: null (Keylime's schema allows only null; tmb refuses any other). */
    dm_policy: null;
  };
  /** `ima-buf` event name to allowed digests. */
  'ima-buf': Record<string, string[]>;
  /** Keys for ima-sig signatures (PEM / JSON text). Kept, not evaluated: see docs/policy.md. */
  'verification-keys': string;
  rules?: string;
}

const HEX_DIGEST = /^[0-9a-f]{40,128}$/;
const LOG_HASH_ALGS = ['sha1', 'sha256', 'sha384', 'sha512'];
/** Deepest JSON nesting read: a runtime policy needs 3 levels, a DSSE envelope 3. */
export const MAX_POLICY_DEPTH = 64;

/** A runtime policy as read, and the envelope it came in, if it was signed. */
export interface OpenedPolicy {
  policy: RuntimePolicy;
  /** Null for a plain policy; for a DSSE envelope, whether its signature was verified and by which keyid. */
  signature: { verified: boolean; keyid: string | null } | null;
}

/** Options of parseRuntimePolicy / openRuntimePolicy: how to treat a signed policy. */
export type PolicyOptions = EnvelopeOptions;

/**
 * Reads a Keylime runtime policy (JSON bytes or text, or an already-parsed value) and checks it against
 * Keylime's schema: the seven required members, `meta.version` 1, digests as lower-case hex
 * of 40 to 128 digits, `ima.dm_policy` null, excludes that compile (regex.ts). Unknown members
 * are ignored, as Keylime does. A DSSE envelope (`keylime_policy sign runtime`) is opened with
 * `options.key` (docs/policy.md "Signed policies"). A UTF-8 byte-order mark is skipped, as
 * Python's json.loads does for the bytes Keylime reads. A parsed value's digest maps and lists
 * are used as they are (not copied): do not change them.
 * @throws CoreError IMA_POLICY_INVALID naming the member that is wrong,
 *   IMA_POLICY_LEGACY_ALLOWLIST (a Keylime allowlist, not a policy), IMA_POLICY_REGEX_UNSUPPORTED,
 *   and the envelope codes of openEnvelope (IMA_POLICY_KEY_REQUIRED, ...); IMA_POLICY_NOT_SIGNED
 *   when a key is given and the policy is not an envelope
 */
export function parseRuntimePolicy(
  input: string | Uint8Array | unknown,
  options: PolicyOptions = {},
): RuntimePolicy {
  return openRuntimePolicy(input, options).policy;
}

/** parseRuntimePolicy, also saying whether the policy was signed and verified. */
export function openRuntimePolicy(
  input: string | Uint8Array | unknown,
  options: PolicyOptions = {},
): OpenedPolicy {
  const v =
    typeof input === 'string'
      ? parseText(input)
      : input instanceof Uint8Array
        ? parseText(decode(input))
        : input;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    const what = v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
    throw new CoreError(
      'IMA_POLICY_INVALID',
      `runtime policy: the top level is ${what}; expected an object (a Keylime runtime policy, or a DSSE envelope around one)`,
    );
  }
  const o = v as Record<string, unknown>;
  if (isEnvelope(o)) {
    const opened = openEnvelope(o, options);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(opened.payload);
    } catch (cause) {
      throw new CoreError('IMA_POLICY_ENVELOPE_INVALID', 'signed runtime policy: the payload is not UTF-8', {
        cause,
      });
    }
    const inner = parseText(text);
    if (
      typeof inner === 'object' &&
      inner !== null &&
      !Array.isArray(inner) &&
      isEnvelope(inner as Record<string, unknown>)
    )
      throw new CoreError(
        'IMA_POLICY_ENVELOPE_INVALID',
        'signed runtime policy: the payload is another envelope',
      );
    return { policy: checkPolicy(inner), signature: { verified: opened.verified, keyid: opened.keyid } };
  }
  if (options.key !== undefined)
    throw new CoreError(
      'IMA_POLICY_NOT_SIGNED',
      'runtime policy is not signed (not a DSSE envelope), but a key to verify it was given: sign it (keylime_policy sign runtime) or leave the key out',
    );
  return { policy: checkPolicy(o), signature: null };
}

function checkPolicy(v: unknown): RuntimePolicy {
  const p = obj(v, 'policy');
  legacy(p);
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
    bad('ima.log_hash_alg', `unknown ${JSON.stringify(alg)} (sha1, sha256, sha384 or sha512)`);
  if (!('dm_policy' in ima)) bad('ima.dm_policy', 'missing');
  if (ima.dm_policy !== null)
    bad(
      'ima.dm_policy',
      "not null: tmb does not evaluate device-mapper policies (and Keylime's policy schema allows only null)",
    );
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
      dm_policy: null,
    },
    'ima-buf': digests(p['ima-buf'], 'ima-buf'),
    'verification-keys': p['verification-keys'] as string,
    ...(p.rules !== undefined ? { rules: p.rules as string } : {}),
  };
}

/**
 * Keylime's exclude list as one matcher: Python `re` syntax, matched at the start of a path
 * like re.match over "(a)|(b)|...", in linear time (excludes.ts). Null when the list is empty.
 * @throws CoreError IMA_POLICY_INVALID (Python refuses the expression, or it is empty),
 *   IMA_POLICY_REGEX_UNSUPPORTED naming the construct tmb cannot match as Python does
 */
export function compileExcludes(excludes: readonly string[]): PathMatcher | null {
  return compilePythonExcludes(excludes);
}

/** A policy file's bytes as text: UTF-8 (a UTF-8 byte-order mark is skipped by parseText). */
function decode(bytes: Uint8Array): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    throw new CoreError(
      'IMA_POLICY_INVALID',
      'runtime policy is UTF-16 text (starts with a UTF-16 byte-order mark): save it as UTF-8',
    );
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new CoreError('IMA_POLICY_INVALID', 'runtime policy is not UTF-8 text', { cause });
  }
}

/** JSON text to a value, with a message that says what is wrong when it is not a policy's JSON. */
function parseText(input: string): unknown {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  if (text.trim() === '') throw new CoreError('IMA_POLICY_INVALID', 'runtime policy is empty');
  if (text.includes('\u0000'))
    throw new CoreError(
      'IMA_POLICY_INVALID',
      'runtime policy holds NUL characters: UTF-16 or binary, not UTF-8 JSON (save it as UTF-8)',
    );
  const depth = jsonDepth(text);
  if (depth > MAX_POLICY_DEPTH)
    throw new CoreError(
      'IMA_POLICY_INVALID',
      `runtime policy is nested more than ${MAX_POLICY_DEPTH} levels deep (a policy needs 3): not a runtime policy`,
    );
  try {
    return JSON.parse(text);
  } catch (cause) {
    const line = text.split('\n', 1)[0]!.trim();
    if (/^(?:[a-z0-9_-]+:)?[0-9a-fA-F]{32,128}\s+\S/.test(line))
      throw new CoreError(
        'IMA_POLICY_LEGACY_ALLOWLIST',
        `this is a legacy Keylime allowlist (plain "digest  path" lines, first: ${JSON.stringify(line.slice(0, 80))}), not a runtime policy: convert it (tmb policy convert --allowlist FILE, or keylime_convert_runtime_policy -a FILE)`,
        { cause },
      );
    throw new CoreError('IMA_POLICY_INVALID', `runtime policy is not JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

/** The deepest nesting of arrays and objects in JSON text (strings skipped), without parsing. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > MAX_POLICY_DEPTH) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Keylime's older formats, which its converter turns into a runtime policy. */
function legacy(p: Record<string, unknown>): void {
  if ('digests' in p) return;
  const convert =
    'convert it (tmb policy convert --allowlist FILE, or keylime_convert_runtime_policy -a FILE)';
  if ('hashes' in p)
    throw new CoreError(
      'IMA_POLICY_LEGACY_ALLOWLIST',
      `this is a legacy Keylime JSON allowlist ("hashes", meta.version ${JSON.stringify((p.meta as { version?: unknown } | undefined)?.version)}), not a runtime policy: ${convert}`,
    );
  if ('allowlist' in p || 'exclude' in p)
    throw new CoreError(
      'IMA_POLICY_LEGACY_ALLOWLIST',
      `this is a Keylime verifier's stored allowlist ("allowlist" and "exclude" members, before Keylime 7), not a runtime policy: ${convert}`,
    );
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
  const h = list.find((x) => !HEX_DIGEST.test(x as string)) as string;
  const prefix = /^([a-z0-9_-]+):([0-9a-fA-F]+)$/.exec(h);
  if (prefix !== null)
    return `${JSON.stringify(h)} has an algorithm prefix "${prefix[1]}:": Keylime's schema takes bare lower-case hex (a legacy allowlist converted by keylime_convert_runtime_policy keeps the prefix): write ${JSON.stringify(prefix[2]!.toLowerCase())}`;
  if (/^[0-9a-fA-F]{40,128}$/.test(h))
    return `${JSON.stringify(h)} has upper-case hex: Keylime compares lower-case hex, so it would never match`;
  return `${JSON.stringify(h)} is not lower-case hex of 40 to 128 digits`;
}

function bad(where: string, what: string): never {
  throw new CoreError('IMA_POLICY_INVALID', `runtime policy ${where}: ${what}`);
}
