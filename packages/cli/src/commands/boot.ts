import { readFile } from 'node:fs/promises';
import { CoreError, fromHex, ParseError, toHex } from '@tmb/core';
import {
  appraiseBootLog,
  type BootPolicy,
  bootFacts,
  parseBootPolicy,
  parseEventLog,
  replayEventLog,
} from '@tmb/core/boot';
import { fail, parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb boot <subcommand> [options]

  replay FILE [--json]
      Parses a TCG2 crypto-agile UEFI event log (binary_bios_measurements), replays every bank
      it has and prints PCRs 0-9 (and any other PCR it extends), the Secure Boot state, the boot
      applications, the files grub measured and the kernel command lines. Exits 1 when the log
      does not parse.

  appraise FILE --pcrs FILE [--policy FILE] [--json]
      Appraises the log against quoted sha256 PCRs 0-9 (--pcrs: JSON {"0": HEX, ..., "9": HEX})
      and a measured-boot policy, and prints the host.boot check. Exits 1 when it fails.

docs/boot.md describes the format, the replay and the policy.`;

/** `tmb boot`: replay and appraise UEFI measured-boot event logs. */
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

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
}

function one(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`expected one FILE, found ${positionals.length}`);
  return positionals[0]!;
}

async function replayCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  const bytes = await readInput(one(positionals));
  let log: ReturnType<typeof parseEventLog>;
  let facts: ReturnType<typeof bootFacts>;
  try {
    log = parseEventLog(bytes);
    facts = bootFacts(log);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return fail(io, values.json === true, 'boot', err.code, err.message);
  }
  const banks: Record<string, Record<string, string>> = {};
  for (const [bank, pcrs] of replayEventLog(log))
    banks[bank] = Object.fromEntries(
      [...pcrs].sort(([a], [b]) => a - b).map(([i, v]) => [String(i), toHex(v)]),
    );
  const { digestMismatch, ...shown } = facts;
  const out = {
    events: log.events.length,
    pcrs: banks,
    ...shown,
    digestMismatch: digestMismatch?.detail ?? null,
  };
  if (values.json) io.stdout(`${JSON.stringify(out)}\n`);
  else {
    io.stdout(`events: ${out.events}\n`);
    for (const [bank, pcrs] of Object.entries(banks))
      for (const [i, hex] of Object.entries(pcrs)) io.stdout(`${bank} PCR ${i.padStart(2)}: ${hex}\n`);
    io.stdout(
      `secure boot: ${facts.secureBoot === null ? 'not logged' : facts.secureBoot ? 'enabled' : 'disabled'}\n`,
    );
    if (facts.simulated) io.stdout('firmware: SIMULATED (TMB simulated firmware marker)\n');
    for (const a of facts.applications) io.stdout(`boot application: ${a}\n`);
    for (const f of facts.files) io.stdout(`file: ${f.path} ${f.digest}\n`);
    for (const c of facts.cmdlines) io.stdout(`kernel command line: ${c}\n`);
    if (digestMismatch !== null) io.stdout(`digest mismatch: ${digestMismatch.detail}\n`);
  }
  return 0;
}

async function appraiseCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { pcrs: { type: 'string' }, policy: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (values.pcrs === undefined) throw new UsageError('--pcrs FILE is required');
  const log = await readInput(one(positionals));
  const pcrs = new Map<number, Uint8Array>();
  try {
    const json = JSON.parse(new TextDecoder().decode(await readInput(values.pcrs))) as Record<
      string,
      unknown
    >;
    for (const [k, v] of Object.entries(json)) {
      if (!/^\d+$/.test(k) || typeof v !== 'string') throw new Error(`member ${k} is not "N": "HEX"`);
      pcrs.set(Number(k), fromHex(v.replace(/^0x/, '')));
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--pcrs ${values.pcrs}: ${(err as Error).message}`);
  }
  let policy: BootPolicy | null = null;
  if (values.policy !== undefined) {
    try {
      policy = parseBootPolicy(new TextDecoder().decode(await readInput(values.policy)));
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      return fail(io, values.json === true, 'boot', err.code, err.message);
    }
  }
  const a = appraiseBootLog({ log, pcrs, policy });
  if (values.json) io.stdout(`${JSON.stringify(a)}\n`);
  else io.stdout(`host.boot ${a.check.status}${a.check.code ? ` ${a.check.code}` : ''}: ${a.check.detail}\n`);
  return a.check.status === 'pass' ? 0 : 1;
}
