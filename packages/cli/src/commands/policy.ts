import { createPrivateKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { CoreError } from '@tmb/core';
import {
  convertAllowlist,
  createPolicy,
  diffPolicies,
  ImaParseError,
  type OpenedPolicy,
  openRuntimePolicy,
  parseLog,
  signEnvelope,
  type ViolationRule,
} from '@tmb/core/ima';
import { fail, parse, UsageError } from '../args.ts';
import { readBounded } from '../input.ts';
import type { Io } from '../registry.ts';

/** Cap on a runtime policy file (a 100,000-path policy is ~15 MB). */
export const MAX_POLICY_BYTES = 256 << 20;
/** Cap on a measurement list `create` reads. */
const MAX_LOG_BYTES = 1 << 30;
/** Cap on a key file. */
const MAX_KEY_BYTES = 64 << 10;

const HELP = `usage: tmb policy <subcommand> [options]

  create --from-log FILE [--exclude REGEX]... [--out FILE]
      Writes a Keylime runtime policy (JSON, version 1) that allows exactly what the IMA log
      (either form) measured: each path with its digests, keyring keys, ima-buf events;
      ima.log_hash_alg is the log's template hash algorithm. Entries matching an --exclude
      (Python regex, matched at the path's start) are left out and the regex is written into
      the policy's excludes.

  diff A B [--json] [POLICY OPTIONS]
      Lists what one policy allows that the other does not ("-" only in A, "+" only in B).
      Exits 0 when they allow the same, 1 when they differ.

  check FILE [--json] [POLICY OPTIONS]
      Reads a policy as the verifier and \`tmb ima appraise\` do and says what it holds, or
      what is wrong with it. Exits 0 when it is valid, 1 when not.

  convert --allowlist FILE [--excludelist FILE] [--out FILE]
      Turns a legacy Keylime allowlist (plain "digest  path" lines, or a JSON allowlist with
      "hashes") into a runtime policy, as keylime_convert_runtime_policy does.

  sign FILE --key PRIVATE.pem [--out FILE]
      Wraps a policy in a DSSE envelope signed with an EC private key (ECDSA, SHA-256), as
      \`keylime_policy sign runtime\` does; verify it with --policy-key PUBLIC.pem.

  POLICY OPTIONS (also on tmb ima appraise):
    --policy-key FILE   PEM EC public key or X.509 certificate: the policy must be a DSSE
                        envelope (keylime_policy sign runtime) that this key signed.
    --unsigned-ok       Use a signed policy without checking its signature. Without it and
                        without --policy-key, a signed policy is refused (IMA_POLICY_KEY_REQUIRED).

docs/policy.md describes the format.`;

/** `tmb policy`: create, check, convert, sign and compare Keylime runtime policies. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== undefined && rest.some((a) => a === '--help' || a === '-h')) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (sub === 'create') return create(rest, io);
  if (sub === 'diff') return diff(rest, io);
  if (sub === 'check') return check(rest, io);
  if (sub === 'convert') return convert(rest, io);
  if (sub === 'sign') return signCommand(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (create, diff, check, convert, sign)`);
}

/** The flags that say how a signed policy is read (shared with `tmb ima appraise`). */
export const POLICY_OPTIONS = {
  'policy-key': { type: 'string' },
  'unsigned-ok': { type: 'boolean' },
} as const;

/**
 * Reads and checks a policy file as the verifier does (core openRuntimePolicy): bounded read,
 * a signed policy verified with --policy-key or taken with --unsigned-ok.
 * @throws CoreError for a policy that is not valid (the caller prints its code); UsageError
 *   when a file cannot be read
 */
export async function readPolicy(
  path: string,
  values: { 'policy-key'?: string | undefined; 'unsigned-ok'?: boolean | undefined },
): Promise<OpenedPolicy> {
  const bytes = await readFileOrUsage(path, MAX_POLICY_BYTES);
  const keyPath = values['policy-key'];
  const key =
    keyPath === undefined
      ? undefined
      : new TextDecoder().decode(await readFileOrUsage(keyPath, MAX_KEY_BYTES));
  return openRuntimePolicy(bytes, {
    ...(key !== undefined ? { key } : {}),
    unsignedOk: values['unsigned-ok'] === true,
  });
}

/**
 * The violation rule of `--violations RULE` (pass, fail, unless-excluded; default pass,
 * Keylime's shipped configuration) and the older `--allow-violations` (now the default).
 */
export function violationsOption(values: { violations?: string | undefined }): ViolationRule {
  const v = values.violations ?? 'pass';
  if (v !== 'pass' && v !== 'fail' && v !== 'unless-excluded')
    throw new UsageError('--violations is pass (Keylime, default), unless-excluded or fail');
  return v;
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    'from-log': { type: 'string' },
    exclude: { type: 'string', multiple: true },
    out: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values['from-log'] === undefined) throw new UsageError('--from-log FILE is required');
  const bytes = await readFileOrUsage(values['from-log'], MAX_LOG_BYTES);
  let text: string;
  try {
    const { entries } = parseLog(bytes);
    const policy = createPolicy(entries, {
      excludes: values.exclude ?? [],
      timestamp: new Date().toISOString(),
    });
    text = `${JSON.stringify(policy, null, 2)}\n`;
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    const where = err instanceof ImaParseError ? ` in entry ${err.entryIndex}` : '';
    return fail(io, values.json === true, 'policy', err.code, `${err.message}${where}`);
  }
  if (values.out === undefined) io.stdout(text);
  else await writeFile(values.out, text);
  return 0;
}

async function diff(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, ...POLICY_OPTIONS }, true);
  if (positionals.length !== 2) throw new UsageError('expected two policy files A B');
  const json = values.json === true;
  const policies = [];
  for (const p of positionals) {
    try {
      policies.push((await readPolicy(p, values)).policy);
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      return fail(io, json, 'policy', err.code, `${p}: ${err.message}`);
    }
  }
  const changes = diffPolicies(policies[0]!, policies[1]!);
  if (json) io.stdout(`${JSON.stringify(changes)}\n`);
  else
    for (const c of changes)
      io.stdout(`${c.sign} ${c.section} ${c.key}${c.value === '' ? '' : ` ${c.value}`}\n`);
  return changes.length === 0 ? 0 : 1;
}

async function check(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, ...POLICY_OPTIONS }, true);
  if (positionals.length !== 1) throw new UsageError('expected one policy FILE');
  const path = positionals[0]!;
  let opened: OpenedPolicy;
  try {
    opened = await readPolicy(path, values);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return fail(io, values.json === true, 'policy', err.code, `${path}: ${err.message}`);
  }
  const p = opened.policy;
  const count = (r: Record<string, string[]>) => Object.keys(r).length;
  const summary = {
    signed: opened.signature !== null,
    verified: opened.signature?.verified ?? false,
    keyid: opened.signature?.keyid ?? null,
    digests: count(p.digests),
    excludes: p.excludes.length,
    keyrings: count(p.keyrings),
    imaBuf: count(p['ima-buf']),
    logHashAlg: p.ima.log_hash_alg,
  };
  if (values.json) io.stdout(`${JSON.stringify(summary)}\n`);
  else {
    const sig = !summary.signed
      ? 'not signed'
      : summary.verified
        ? `signed, verified (keyid ${summary.keyid})`
        : 'signed, NOT verified (--unsigned-ok)';
    io.stdout(
      `${path}: valid runtime policy, ${sig}; ${summary.digests} paths, ${summary.excludes} excludes, ${summary.keyrings} keyrings, ${summary.imaBuf} ima-buf events, log_hash_alg ${summary.logHashAlg}\n`,
    );
  }
  return 0;
}

async function convert(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    allowlist: { type: 'string' },
    excludelist: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.allowlist === undefined) throw new UsageError('--allowlist FILE is required');
  const text = new TextDecoder().decode(await readFileOrUsage(values.allowlist, MAX_POLICY_BYTES));
  let excludes: string[] | undefined;
  if (values.excludelist !== undefined) {
    const lines = new TextDecoder()
      .decode(await readFileOrUsage(values.excludelist, MAX_POLICY_BYTES))
      .split(/\r?\n/);
    excludes = lines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  }
  let out: string;
  try {
    const policy = convertAllowlist(text, {
      ...(excludes !== undefined ? { excludes } : {}),
      timestamp: new Date().toISOString(),
    });
    out = `${JSON.stringify(policy, null, 2)}\n`;
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return fail(io, values.json === true, 'policy', err.code, `${values.allowlist}: ${err.message}`);
  }
  if (values.out === undefined) io.stdout(out);
  else await writeFile(values.out, out);
  return 0;
}

async function signCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { key: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (positionals.length !== 1) throw new UsageError('expected one policy FILE');
  if (values.key === undefined) throw new UsageError('--key PRIVATE.pem is required');
  const path = positionals[0]!;
  const bytes = await readFileOrUsage(path, MAX_POLICY_BYTES);
  try {
    openRuntimePolicy(bytes); // sign only what verifies as a plain policy
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return fail(io, values.json === true, 'policy', err.code, `${path}: ${err.message}`);
  }
  let envelope: ReturnType<typeof signEnvelope>;
  try {
    const key = createPrivateKey(new TextDecoder().decode(await readFileOrUsage(values.key, MAX_KEY_BYTES)));
    if (key.asymmetricKeyType !== 'ec') throw new Error(`a ${key.asymmetricKeyType} key, not EC`);
    envelope = signEnvelope(bytes, key);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--key ${values.key}: ${(err as Error).message}`);
  }
  const text = `${JSON.stringify(envelope)}\n`;
  if (values.out === undefined) io.stdout(text);
  else await writeFile(values.out, text);
  return 0;
}

async function readFileOrUsage(path: string, max: number): Promise<Uint8Array> {
  try {
    return await readBounded(path, max);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
}
