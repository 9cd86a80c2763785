import { readFile, writeFile } from 'node:fs/promises';
import { CoreError } from '@tmb/core';
import { createPolicy, diffPolicies, ImaParseError, parseLog, parseRuntimePolicy } from '@tmb/core/ima';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb policy <subcommand> [options]

  create --from-log FILE [--exclude REGEX]... [--out FILE]
      Writes a Keylime runtime policy (JSON, version 1) that allows exactly what the IMA log
      (either form) measured: each path with its digests, keyring keys, ima-buf events.
      Entries matching an --exclude (Python regex, matched at the path's start) are left out
      and the regex is written into the policy's excludes.

  diff A B [--json]
      Lists what one policy allows that the other does not ("-" only in A, "+" only in B).
      Exits 0 when they allow the same, 1 when they differ.

docs/policy.md describes the format.`;

/** `tmb policy`: create and compare Keylime runtime policies. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'create') return create(rest, io);
  if (sub === 'diff') return diff(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (create, diff)`);
}

async function create(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    'from-log': { type: 'string' },
    exclude: { type: 'string', multiple: true },
    out: { type: 'string' },
  });
  if (values['from-log'] === undefined) throw new UsageError('--from-log FILE is required');
  const bytes = await read(values['from-log']);
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
    io.stderr(`tmb policy: ${err.code}${where}: ${err.message}\n`);
    return 1;
  }
  if (values.out === undefined) io.stdout(text);
  else await writeFile(values.out, text);
  return 0;
}

async function diff(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 2) throw new UsageError('expected two policy files A B');
  const policies = [];
  for (const p of positionals) {
    try {
      policies.push(parseRuntimePolicy(new TextDecoder().decode(await read(p))));
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      io.stderr(`tmb policy: ${p}: ${err.code}: ${err.message}\n`);
      return 1;
    }
  }
  const changes = diffPolicies(policies[0]!, policies[1]!);
  if (values.json) io.stdout(`${JSON.stringify(changes)}\n`);
  else
    for (const c of changes)
      io.stdout(`${c.sign} ${c.section} ${c.key}${c.value === '' ? '' : ` ${c.value}`}\n`);
  return changes.length === 0 ? 0 : 1;
}

async function read(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
}
