import { readFile } from 'node:fs/promises';
import { CoreError, toHex } from '@tmb/core';
import {
  appraiseColumns,
  compilePolicy,
  IMA_PCR,
  ImaParseError,
  type PcrBank,
  parseLogColumns,
  parseRuntimePolicy,
  replayColumns,
} from '@tmb/core/ima';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb ima <subcommand> [options]

  replay FILE [--bank sha1|sha256] [--pcr N] [--json]
      Replays an IMA measurement list (binary_runtime_measurements or its ASCII form, detected)
      into one PCR bank (default sha256, PCR 10) and prints the value and the entry count;
      --json prints {"bank": "sha256", "pcr": HEX, "entries": N}. Every template hash is
      checked against its entry. Exits 1 when the log does not parse or a template hash is wrong.

  appraise FILE --policy FILE [--pcr N] [--allow-violations] [--json]
      Appraises every entry against a Keylime runtime policy (JSON, version 1) and lists each
      failing entry: its index, byte offset, code, path, digest and why. Exits 1 when any fails.

docs/ima.md describes the formats; docs/policy.md the policy.`;

/** `tmb ima`: replay and appraise IMA measurement lists. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'replay') return replayCommand(rest, io);
  if (sub === 'appraise') return appraiseCommand(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (replay, appraise)`);
}

async function replayCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { bank: { type: 'string', default: 'sha256' }, pcr: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  const bank = values.bank;
  if (bank !== 'sha1' && bank !== 'sha256') throw new UsageError('--bank is sha1 or sha256');
  const pcrIndex = pcrOption(values.pcr);
  const entries = await loadLog(one(positionals, 'FILE'), io);
  if (entries === null) return 1;
  const r = replayColumns(entries, { bank: bank as PcrBank, pcrIndex, checkTemplateHash: true });
  if (values.json) io.stdout(`${JSON.stringify({ bank, pcr: toHex(r.pcr), entries: entries.length })}\n`);
  else {
    io.stdout(`PCR ${pcrIndex} (${bank}): ${toHex(r.pcr)}\n`);
    io.stdout(`entries: ${entries.length} (${r.folded} into PCR ${pcrIndex}, ${r.violations} violations)\n`);
  }
  for (const e of r.templateHashMismatches.slice(0, 20)) {
    io.stderr(`tmb ima: entry ${e.index} at byte ${e.offset}: IMA_TEMPLATE_HASH_MISMATCH ${e.path}\n`);
  }
  if (r.templateHashMismatches.length > 0) {
    io.stderr(`tmb ima: ${r.templateHashMismatches.length} template hashes do not match their entries\n`);
    return 1;
  }
  return 0;
}

async function appraiseCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      policy: { type: 'string' },
      pcr: { type: 'string' },
      'allow-violations': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (values.policy === undefined) throw new UsageError('--policy FILE is required');
  const entries = await loadLog(one(positionals, 'FILE'), io);
  if (entries === null) return 1;
  let policyText: string;
  try {
    policyText = await readFile(values.policy, 'utf8');
  } catch (err) {
    throw new UsageError(`--policy ${values.policy}: ${(err as Error).message}`);
  }
  let compiled: ReturnType<typeof compilePolicy>;
  try {
    compiled = compilePolicy(parseRuntimePolicy(policyText));
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    io.stderr(`tmb ima: ${err.code}: ${err.message}\n`);
    return 1;
  }
  const a = appraiseColumns(entries, compiled, {
    pcrIndex: pcrOption(values.pcr),
    allowViolations: values['allow-violations'] === true,
  });
  if (values.json) {
    io.stdout(`${JSON.stringify(a)}\n`);
  } else {
    for (const f of a.failures) {
      io.stdout(`#${f.index} @${f.offset} ${f.code} ${f.path} ${f.digest}: ${f.detail}\n`);
    }
    io.stdout(
      `${a.entries} entries: ${a.passed} allowed, ${a.excluded} excluded, ${a.failures.length} failed\n`,
    );
  }
  return a.failures.length === 0 ? 0 : 1;
}

/**
 * Reads and parses a log into columns (no object per entry: a 300,000-entry log stays small);
 * prints a parse error (code, entry, offset) and returns null.
 */
async function loadLog(path: string, io: Io) {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
  try {
    return parseLogColumns(bytes).columns;
  } catch (err) {
    if (err instanceof ImaParseError) {
      io.stderr(
        `tmb ima: ${err.code} in entry ${err.entryIndex} (starting at byte ${err.entryOffset}): ${err.message}\n`,
      );
      return null;
    }
    throw err;
  }
}

function one(positionals: string[], name: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${name}, found ${positionals.length}`);
  return positionals[0]!;
}

function pcrOption(text: string | undefined): number {
  if (text === undefined) return IMA_PCR;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 23) throw new UsageError('--pcr is 0..23');
  return n;
}
