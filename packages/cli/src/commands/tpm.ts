import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreError, fromHex } from '@tmb/core';
import { verifyQuote } from '@tmb/core/tpm';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { untilSignal } from '../signals.ts';

const HELP = `usage: tmb tpm <subcommand> [options]

  checkquote --ak-pub FILE --message FILE --signature FILE [--pcrs FILE] --qualifying-data HEX [--json]
      Verifies a TPM quote from the files tpm2_quote writes (-m message, -s signature, -o PCR
      values) and the AK public key (PEM, or TPM2B_PUBLIC as tpm2_createak -u writes it), with
      the same checks as the verifier (docs/tpm.md). Prints each check; --json prints
      {"ok": BOOL, "checks": [...]}. Exits 0 only when the quote verifies, 1 when it does not,
      2 on bad usage or an unreadable file.

  swtpm --state DIR [--unix] [--quiet]
      Manufactures an swtpm in DIR (EK certificates from a local CA in DIR/ca) unless done,
      starts it on two free ports of 127.0.0.1 (or a Unix socket in DIR), and runs until
      interrupted; then stops it. Prints one JSON line when ready: "tcti", exactly the value
      \`tmb agent --tpm\` takes (swtpm:host=H,port=P or unix:PATH); "tpm2Tcti", the same TPM for
      tpm2-tools (TPM2TOOLS_TCTI / -T); "pid"; "ekRoots", a folder of the local CA's root and
      issuer certificates for the verifier's and tmb verify's --ek-roots ("roots",
      "intermediates": the same as files). Says what it is doing on stderr (unless --quiet).`;

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
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (values.state === undefined) throw new UsageError('--state DIR is required');
  const say = values.quiet ? () => {} : (l: string) => io.stderr(`tmb tpm swtpm: ${l}\n`);
  const { provisionSwtpm, startSwtpm, tctiString } = await import('@tmb/agent/tpm');
  say(`manufacturing the swtpm in ${values.state} unless done (EK, EK certificates: a few seconds)...`);
  const state = await provisionSwtpm(values.state);
  // A folder holding only the local CA's certificates (its ca folder also holds its keys), as
  // the verifier's and tmb verify's --ek-roots take it. Both the root and the issuer are anchors
  // there, as in the demo: tmb verify takes no intermediates, and a bundle carries only the chain
  // the TPM holds (swtpm's: the EK certificate alone).
  const ekRoots = join(state.stateDir, 'ek-roots');
  await mkdir(ekRoots, { recursive: true });
  await copyFile(state.rootCertPath, join(ekRoots, 'root.pem'));
  await copyFile(state.issuerCertPath, join(ekRoots, 'issuer.pem'));
  say(`starting it on ${values.unix ? 'a Unix socket' : 'two free ports of 127.0.0.1'}...`);
  const tpm = await startSwtpm(state, { transport: values.unix ? 'unix' : 'tcp' });
  // The agent's --tpm takes unix:PATH where tpm2-tools write swtpm:path=PATH (agent/src/tpm/tcti.ts).
  const tcti = tpm.tcti.kind === 'unix' ? `unix:${tpm.tcti.path}` : tctiString(tpm.tcti);
  io.stdout(
    `${JSON.stringify({ tcti, tpm2Tcti: tctiString(tpm.tcti), pid: tpm.pid, ekRoots, roots: [state.rootCertPath], intermediates: [state.issuerCertPath], stateDir: join(state.stateDir) })}\n`,
  );
  await untilSignal();
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
