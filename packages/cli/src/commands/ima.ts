import { CoreError, toHex } from '@tmb/core';
import {
  type Appraisal,
  type AppraiseOptions,
  appraiseColumns,
  type CompiledPolicy,
  columnsOf,
  compilePolicy,
  displayPath,
  type EntryFailure,
  FILE_DIGEST_ALGS,
  IMA_PCR,
  type ImaColumns,
  ImaParseError,
  LogReader,
  type PcrBank,
  replayColumns,
  type TemplateHashAlg,
  templateHashFailures,
} from '@tmb/core/ima';
import { parse, UsageError } from '../args.ts';
import { InputTooLargeError, readChunks } from '../input.ts';
import type { Io } from '../registry.ts';
import { POLICY_OPTIONS, readPolicy, violationsOption } from './policy.ts';

/** Default cap on a measurement list read (--max-bytes): ~15x a 300,000-entry ASCII list. */
export const MAX_LOG_BYTES = 1 << 30;
/** Reads of 1 MiB: few enough calls for a 60 MB list, and a bad list fails after one. */
const LOG_CHUNK = 1 << 20;

const HELP = `usage: tmb ima <subcommand> [options]

  replay FILE [--bank sha1|sha256] [--pcr N] [--json]
      Replays an IMA measurement list (binary_runtime_measurements or its ASCII form, detected;
      also the per-bank lists *_runtime_measurements_sha256) into one PCR bank (default sha256,
      PCR 10) and prints the value and the entry count; --json prints {"bank": "sha256",
      "pcr": HEX, "entries": N}. Every template hash is checked against its entry. Exits 1 when
      the log does not parse or a template hash is wrong.

  appraise FILE --policy FILE [--pcr N] [--violations RULE] [--policy-key FILE]
           [--unsigned-ok] [--json]
      Checks every entry's template hash (IMA_TEMPLATE_HASH_MISMATCH), then appraises it against
      a Keylime runtime policy (JSON, version 1), and lists each failing entry: its index, byte
      offset, code, path, digest and why. Exits 1 when any fails. --violations: pass (Keylime's
      shipped configuration, the default), unless-excluded (tmb's stricter rule) or fail;
      --allow-violations is the default and kept for old scripts. A signed policy (DSSE) needs
      --policy-key PUBLIC.pem, or --unsigned-ok (tmb policy --help).

  Both: --template-hash-alg sha1|sha256|sha384|sha512 (default: detected from the first
  entry; given, a list of another kind fails and says what it looks like); --max-bytes N
  (default 1 GiB). FILE may be a pipe or - (standard input): the list is parsed as it is
  read and the first bad entry stops the read. Names that are not UTF-8 are kept as bytes
  and shown as \\xNN.

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

const READ_OPTIONS = {
  'template-hash-alg': { type: 'string' },
  'max-bytes': { type: 'string' },
} as const;

async function replayCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      bank: { type: 'string', default: 'sha256' },
      pcr: { type: 'string' },
      json: { type: 'boolean' },
      ...READ_OPTIONS,
    },
    true,
  );
  const bank = values.bank;
  if (bank !== 'sha1' && bank !== 'sha256') throw new UsageError('--bank is sha1 or sha256');
  const pcrIndex = pcrOption(values.pcr);
  const entries = await loadLog(one(positionals, 'FILE'), io, readOptions(values));
  if (entries === null) return 1;
  const r = replayColumns(entries, { bank: bank as PcrBank, pcrIndex, checkTemplateHash: true });
  if (values.json) io.stdout(`${JSON.stringify({ bank, pcr: toHex(r.pcr), entries: entries.length })}\n`);
  else {
    io.stdout(`PCR ${pcrIndex} (${bank}): ${toHex(r.pcr)}\n`);
    io.stdout(`entries: ${entries.length} (${r.folded} into PCR ${pcrIndex}, ${r.violations} violations)\n`);
  }
  for (const e of r.templateHashMismatches.slice(0, 20)) {
    io.stderr(
      `tmb ima: entry ${e.index} at byte ${e.offset}: IMA_TEMPLATE_HASH_MISMATCH ${displayPath(e.path)}\n`,
    );
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
      violations: { type: 'string' },
      ...POLICY_OPTIONS,
      json: { type: 'boolean' },
      ...READ_OPTIONS,
    },
    true,
  );
  if (values.policy === undefined) throw new UsageError('--policy FILE is required');
  const violations = violationsOption(values);
  const entries = await loadLog(one(positionals, 'FILE'), io, readOptions(values));
  if (entries === null) return 1;
  let compiled: ReturnType<typeof compilePolicy>;
  try {
    compiled = compilePolicy((await readPolicy(values.policy, values)).policy);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    io.stderr(`tmb ima: ${values.policy}: ${err.code}: ${err.message}\n`);
    return 1;
  }
  const a = appraiseWithTemplateHashes(entries, compiled, {
    pcrIndex: pcrOption(values.pcr),
    violations,
  });
  if (values.json) {
    io.stdout(`${JSON.stringify(a)}\n`);
  } else {
    for (const f of a.failures) {
      io.stdout(`#${f.index} @${f.offset} ${f.code} ${displayPath(f.path)} ${f.digest}: ${f.detail}\n`);
    }
    io.stdout(
      `${a.entries} entries: ${a.passed} allowed, ${a.excluded} excluded, ${a.failures.length} failed\n`,
    );
  }
  return a.failures.length === 0 ? 0 : 1;
}

/**
 * Appraisal as Keylime does it (keylime/ima/ast.py, Entry.invalid): an entry whose template
 * hash is not the hash of its data fails IMA_TEMPLATE_HASH_MISMATCH before, and instead of,
 * any policy verdict (excluded or allowed included); the others are appraised by policy.
 * Same result shape as appraiseColumns.
 */
export function appraiseWithTemplateHashes(
  cols: ImaColumns,
  compiled: CompiledPolicy,
  options: AppraiseOptions,
): Appraisal {
  const a = appraiseColumns(cols, compiled, options);
  const bad = templateHashFailures(cols);
  if (bad.length === 0) return a;
  const badIndex = new Set(bad.map((f) => f.index));
  // How the policy judged the altered entries, to take them out of its counts.
  const alone = appraiseColumns(
    columnsOf(bad.map((f) => cols.entry(f.index - cols.firstIndex))),
    compiled,
    options,
  );
  const failures: EntryFailure[] = [...a.failures.filter((f) => !badIndex.has(f.index)), ...bad].sort(
    (x, y) => x.index - y.index,
  );
  const excluded = a.excluded - alone.excluded;
  const violations = a.violations - alone.violations;
  return {
    entries: a.entries,
    passed: a.entries - excluded - violations - failures.length,
    excluded,
    violations,
    failures,
  };
}

/** How a command reads its list: --template-hash-alg and --max-bytes. */
export interface ReadLogOptions {
  templateHashAlg?: TemplateHashAlg;
  maxBytes: number;
}

function readOptions(values: { 'template-hash-alg'?: string; 'max-bytes'?: string }): ReadLogOptions {
  const alg = values['template-hash-alg'];
  if (alg !== undefined && !(FILE_DIGEST_ALGS as readonly string[]).includes(alg)) {
    throw new UsageError(`--template-hash-alg is one of ${FILE_DIGEST_ALGS.join(', ')}`);
  }
  const text = values['max-bytes'];
  const maxBytes = text === undefined ? MAX_LOG_BYTES : Number(text);
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > 2 ** 32 - 1) {
    throw new UsageError('--max-bytes is a whole number of bytes, 1 to 4294967295');
  }
  return { templateHashAlg: alg as TemplateHashAlg | undefined, maxBytes };
}

/**
 * Parses a list from `chunks` as they come, stopping at the first bad entry (the rest is not
 * read) or past `maxBytes` (InputTooLargeError).
 * @throws ImaParseError for a bad list; InputTooLargeError past the cap.
 */
export async function readLog(
  chunks: AsyncIterable<Uint8Array>,
  name: string,
  options: ReadLogOptions,
): Promise<ImaColumns> {
  const reader = new LogReader({ rejectEmpty: true, templateHashAlg: options.templateHashAlg });
  for await (const chunk of chunks) {
    if (reader.bytesRead + chunk.length > options.maxBytes)
      throw new InputTooLargeError(name, options.maxBytes);
    reader.push(chunk); // throws at the first bad entry; for-await then closes the source
  }
  return reader.end().columns;
}

/**
 * Reads and parses a log into columns (no object per entry: a 300,000-entry log stays small),
 * streaming; prints a parse error (code, entry, offset) and returns null.
 */
async function loadLog(path: string, io: Io, options: ReadLogOptions): Promise<ImaColumns | null> {
  try {
    return await readLog(readChunks(path, { chunkBytes: LOG_CHUNK }), path, options);
  } catch (err) {
    if (err instanceof ImaParseError) {
      io.stderr(
        `tmb ima: ${path}: ${err.code} in entry ${err.entryIndex} (starting at byte ${err.entryOffset}): ${err.message}\n`,
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
