import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { startVerifier, type TokenEntry } from '@tmb/verifier';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { untilSignal } from '../signals.ts';

const HELP = `usage: tmb verifier --db FILE (--tokens-file FILE | TMB_VERIFIER_TOKENS) [options]

Runs the verifier: enrols agent keys, accepts their receipt batches, and serves each receipt
with a verdict (docs/api.md).

  --db FILE            SQLite database (WAL mode); ':memory:' keeps nothing (default ./.tmb/verifier.db)
  --tokens-file FILE   agent tokens, one "TOKEN [AGENT-NAME]" per line; a name pins the token to
                       that agent. Blank lines and lines starting with # are ignored.
                       Without it, TMB_VERIFIER_TOKENS holds the same lines. Never on the command line.
  --host HOST          listen address (default 127.0.0.1)
  --port N             listen port (default 0: any free port, printed when ready)
  --result-key FILE    PKCS#8 PEM EC P-256 key that signs EAR results (default: a key generated
                       at start; its public half is at GET /v1/verifier-key)
  --tpm-roots DIR      trusted EK CA certificates: every *.pem / *.crt in DIR (TPM manufacturers'
                       roots and intermediates; swtpm's local CA in development). Without it no
                       AK can enrol and no receipt reaches L1 (docs/evidence.md)
  --registry FILE      model registry JSON (docs/registry.md): adds weights.allowed, host.engine
                       and host.agent to every verdict
  --ima-policy FILE    Keylime runtime policy JSON: every file the host's kernel measured since boot
                       must be allowed by it or by the registry (host.integrity; docs/deploy.md)
  --boot-policy FILE   measured-boot reference policy JSON (docs/boot.md): what host.boot requires
                       of the UEFI event log beyond replaying to PCRs 0-9 (Secure Boot, boot apps...)
  --profiles DIR       signed telemetry profiles (*.json, docs/profile.md), re-read when the
                       folder changes; needs --profile-key. Without it telemetry.consistent is skipped
  --profile-key FILE   the profile signer's Ed25519 key (PEM, e.g. from tmb profile keygen, or
                       base64 raw): only profiles it signed are used

Prints {"listening": URL} on stdout when ready; stops on SIGINT or SIGTERM.`;

/**
 * Parses a tokens file: one `token[ agent-name]` per line.
 * @throws UsageError for a line with more than two fields.
 */
export function parseTokens(text: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    if (fields.length > 2) throw new UsageError(`tokens line ${i + 1}: expected "TOKEN [AGENT-NAME]"`);
    out.push(fields[1] === undefined ? { token: fields[0]! } : { token: fields[0]!, agent: fields[1] });
  }
  return out;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    db: { type: 'string' },
    'tokens-file': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'result-key': { type: 'string' },
    registry: { type: 'string' },
    'ima-policy': { type: 'string' },
    'boot-policy': { type: 'string' },
    'tpm-roots': { type: 'string' },
    profiles: { type: 'string' },
    'profile-key': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const text = values['tokens-file']
    ? await readFile(values['tokens-file'], 'utf8')
    : process.env.TMB_VERIFIER_TOKENS;
  if (text === undefined)
    throw new UsageError('agent tokens needed: pass --tokens-file or set TMB_VERIFIER_TOKENS');
  const tokens = parseTokens(text);
  if (tokens.length === 0) io.stderr('tmb verifier: no agent tokens; no agent can enrol\n');
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
      throw new UsageError('--port must be 0..65535');
  }
  const db = values.db ?? '.tmb/verifier.db';
  if (db !== ':memory:') await mkdir(dirname(db), { recursive: true });
  const resultKeyPem = values['result-key'] ? await readFile(values['result-key'], 'utf8') : undefined;
  const tpmRoots = values['tpm-roots'] ? await readRoots(values['tpm-roots']) : [];
  if (values['tpm-roots'] && tpmRoots.length === 0)
    throw new UsageError(`--tpm-roots ${values['tpm-roots']} holds no *.pem or *.crt file`);
  const verifier = await startVerifier({
    dbPath: db,
    tokens,
    host: values.host,
    port,
    resultKeyPem,
    tpmRoots,
    registry: values.registry ? await readFile(values.registry, 'utf8') : undefined,
    imaPolicy: values['ima-policy'] ? await readFile(values['ima-policy'], 'utf8') : undefined,
    bootPolicy: values['boot-policy'] ? await readFile(values['boot-policy'], 'utf8') : undefined,
    telemetry: {
      profilesDir: values.profiles,
      profileKey: values['profile-key'] ? await readFile(values['profile-key'], 'utf8') : undefined,
    },
  });
  io.stdout(`${JSON.stringify({ listening: verifier.url })}\n`);
  await untilSignal();
  await verifier.close();
  return 0;
}

/** Every PEM certificate file (*.pem, *.crt) of a folder, sorted by name. */
async function readRoots(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => /\.(pem|crt)$/.test(n)).sort();
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}
