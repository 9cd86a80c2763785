import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreError, fromHex } from '@tmb/core';
import { verifyQuote } from '@tmb/core/tpm';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb tpm <subcommand> [options]

  checkquote --ak-pub FILE --message FILE --signature FILE [--pcrs FILE] --qualifying-data HEX [--json]
      Verifies a TPM quote from the files tpm2_quote writes (-m message, -s signature, -o PCR
      values) and the AK public key (PEM, or TPM2B_PUBLIC as tpm2_createak -u writes it), with
      the same checks as the verifier (docs/tpm.md). Prints each check; --json prints
      {"ok": BOOL, "checks": [...]}. Exits 0 only when the quote verifies, 1 when it does not,
      2 on bad usage or an unreadable file.

  swtpm --state DIR [--unix]
      Manufactures an swtpm in DIR (EK certificates from a local CA in DIR/ca) unless done,
      starts it on two free ports of 127.0.0.1 (or a Unix socket in DIR), prints its TCTI and
      PID, and runs until interrupted; then stops it.`;

async function readInput(path: string, flag: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

async function checkquote(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    'ak-pub': { type: 'string' },
    message: { type: 'string' },
    signature: { type: 'string' },
    pcrs: { type: 'string' },
    'qualifying-data': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  for (const flag of ['ak-pub', 'message', 'signature', 'qualifying-data'] as const)
    if (values[flag] === undefined) throw new UsageError(`--${flag} is required (see --help)`);
  let qualifying: Uint8Array;
  try {
    qualifying = fromHex(values['qualifying-data']!.replace(/^0x/, ''));
  } catch (err) {
    if (err instanceof CoreError) throw new UsageError('--qualifying-data must be hex');
    throw err;
  }
  const akBytes = await readInput(values['ak-pub']!, '--ak-pub');
  const akText = new TextDecoder().decode(akBytes.subarray(0, 64));
  const akPublic = akText.includes('-----BEGIN') ? new TextDecoder().decode(akBytes) : akBytes;
  const result = verifyQuote({
    akPublic,
    attest: await readInput(values.message!, '--message'),
    signature: await readInput(values.signature!, '--signature'),
    ...(values.pcrs === undefined ? {} : { pcrs: await readInput(values.pcrs, '--pcrs') }),
    expectedQualifyingData: qualifying,
  });
  if (values.json) io.stdout(`${JSON.stringify({ ok: result.ok, checks: result.checks })}\n`);
  else {
    for (const c of result.checks)
      io.stdout(
        `${c.status.toUpperCase().padEnd(8)} ${c.name.padEnd(20)} ${c.code ? `${c.code}: ` : ''}${c.detail}\n`,
      );
    io.stdout(result.ok ? 'quote verifies\n' : 'quote does NOT verify\n');
  }
  return result.ok ? 0 : 1;
}

async function swtpm(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    state: { type: 'string' },
    unix: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (values.state === undefined) throw new UsageError('--state DIR is required');
  const { provisionSwtpm, startSwtpm, tctiString } = await import('@tmb/agent/tpm');
  const state = await provisionSwtpm(values.state);
  const tpm = await startSwtpm(state, { transport: values.unix ? 'unix' : 'tcp' });
  io.stdout(
    `${JSON.stringify({ tcti: tctiString(tpm.tcti), pid: tpm.pid, roots: [state.rootCertPath], intermediates: [state.issuerCertPath], stateDir: join(state.stateDir) })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await tpm.stop();
  return 0;
}

/** `tmb tpm`: TPM tools for operators (quote checking, a development swtpm). */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'checkquote') return checkquote(rest, io);
  if (sub === 'swtpm') return swtpm(rest, io);
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (checkquote, swtpm)`);
}
