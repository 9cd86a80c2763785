import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isAgentName } from '@tmb/core';
import {
  createLogger,
  LOG_LEVELS,
  type LogLevel,
  loadOrCreateResultKey,
  openStore,
  type RateLimitOptions,
  startVerifier,
  type TokenEntry,
} from '@tmb/verifier';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { untilSignal } from '../signals.ts';

const HELP = `usage: tmb verifier --db FILE (--tokens-file FILE | TMB_VERIFIER_TOKENS) [options]
       tmb verifier allow-ak --db FILE --agent NAME

Runs the verifier: enrols agent keys, accepts their receipt batches, and serves each receipt
with a verdict (docs/api.md).

  --db FILE            SQLite database (WAL mode); ':memory:' keeps nothing (default ./.tmb/verifier.db)
  --db-url-file FILE   PostgreSQL instead of SQLite: FILE holds the URL
                       (postgres://USER:PASSWORD@HOST:5432/DB). Without it, TMB_DATABASE_URL
                       holds it. Never on the command line. Several verifiers may share one
                       database behind a load balancer (docs/deploy.md, "PostgreSQL")
  --db-pool N          most PostgreSQL connections for queries, and again for per-agent locks
                       (default 10)
  --tokens-file FILE   agent tokens, one "TOKEN AGENT-NAME" per line: each token acts for exactly
                       the one agent it names (a line without a name is refused). Blank lines and
                       lines starting with # are ignored. Without it, TMB_VERIFIER_TOKENS holds the
                       same lines. Never on the command line.
  --reader-tokens-file FILE
                       reader (auditor) tokens, one per line: they may read GET /v1/agents and
                       GET /v1/requests/:id for every agent. Without it,
                       TMB_VERIFIER_READER_TOKENS holds the same lines (optional)
  --rate-limit R,B     per-client-address token bucket on the routes that need no token: R
                       requests per second, bursts of B (default 50,100); "off" turns it off
  --trust-proxy LIST   load balancers whose X-Forwarded-For names the client for the rate limit:
                       addresses or CIDR ranges, comma-separated (e.g. 127.0.0.1,10.0.0.0/8).
                       Only from these peers is the header read (its right-most hop that is not
                       one of them). Default: none, the header is ignored
  --inclusion-deadline MS
                       a receipt of an agent with an AK that no quote covers MS after its end
                       fails receipt.included (default 10000)
  --host HOST          listen address (default 127.0.0.1)
  --port N             listen port (default 0: any free port, printed when ready)
  --result-key FILE    PKCS#8 PEM EC P-256 key that signs EAR results, created there (mode 0600)
                       if missing and reused at every start (default: result-key.pem in the
                       --db folder). Its public half is at GET /v1/verifier-key; clients pin it
  --ephemeral-key      sign results with a key made at start and forgotten at exit: results stop
                       verifying after a restart (tests, demos; logs a warning). Needed with
                       --db :memory: unless --result-key is given
  --log-level LEVEL    JSON log lines on stderr at LEVEL and above: debug, info (default), warn,
                       error, silent (docs/deploy.md, "Logs")
  --metrics-public     serve GET /metrics with no token (rate-limited); default: reader token only
  --ek-roots DIR       EK root CAs trusted besides the shipped TPM vendor CAs: every *.pem / *.crt
                       in DIR (swtpm's local CA in development). An EK that chains only to them is
                       classed "development" in verdicts (docs/tpm-roots.md). Old name: --tpm-roots
  --ek-intermediates DIR
                       EK intermediate CAs, every *.pem / *.crt in DIR: used to build EK chains,
                       never trusted by themselves
  --require-hardware-tpm
                       an EK must chain to a shipped TPM vendor CA: any other fails
                       host.ek_certificate (EK_ROOT_NOT_HARDWARE), so no receipt reaches L1
  --registry FILE      model registry JSON (docs/registry.md): adds weights.allowed, host.engine
                       and host.agent to every verdict
  --ima-policy FILE    Keylime runtime policy JSON: every file the host's kernel measured since boot
                       must be allowed by it or by the registry (host.integrity; docs/deploy.md)
  --ima-policy-key FILE  PEM EC public key or X.509 certificate that signed --ima-policy (a DSSE
                       envelope, keylime_policy sign runtime): required for a signed policy, and
                       given, an unsigned policy is refused (IMA_POLICY_NOT_SIGNED)
  --boot-policy FILE   measured-boot reference policy JSON (docs/boot.md): what host.boot requires
                       of the UEFI event log beyond replaying to PCRs 0-9 (Secure Boot, boot apps...)
  --profiles DIR       signed telemetry profiles (*.json, docs/profile.md), re-read when the
                       folder changes; needs --profile-key. Without it telemetry.consistent is skipped
  --profile-key FILE   the profile signer's Ed25519 key (PEM, e.g. from tmb profile keygen, or
                       base64 raw): only profiles it signed are used

Prints {"listening": URL} on stdout when ready; stops on SIGINT or SIGTERM.

allow-ak: lets the next AK activation of agent NAME replace its AK with one on another TPM
(another EK), once; without it such an activation is refused (AK_REPLACEMENT_REFUSED). Writes
to the verifier's database (a running verifier sees it at once). Operator-only: it needs
write access to the database file, not a token.`;

const ALLOW_HELP = `usage: tmb verifier allow-ak (--db FILE | --db-url-file FILE | TMB_DATABASE_URL) --agent NAME

Lets exactly the next AK activation of agent NAME replace its AK with one on another TPM.`;

/**
 * Parses a tokens file: one `token agent-name` per line.
 * @throws UsageError for a line without an agent name or with more than two fields.
 */
export function parseTokens(text: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  for (const [i, fields] of lines(text)) {
    if (fields.length !== 2)
      throw new UsageError(
        `tokens line ${i + 1}: expected "TOKEN AGENT-NAME" (every token names exactly one agent)`,
      );
    out.push({ token: fields[0]!, agent: fields[1]! });
  }
  return out;
}

/**
 * Parses a reader tokens file: one token per line.
 * @throws UsageError for a line with more than one field.
 */
export function parseReaderTokens(text: string): string[] {
  const out: string[] = [];
  for (const [i, fields] of lines(text)) {
    if (fields.length !== 1) throw new UsageError(`reader tokens line ${i + 1}: expected one token`);
    out.push(fields[0]!);
  }
  return out;
}

/** Non-blank, non-comment lines as [line index, whitespace-separated fields]. */
function* lines(text: string): Generator<[number, string[]]> {
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line !== '' && !line.startsWith('#')) yield [i, line.split(/\s+/)];
  }
}

/** `--rate-limit R,B` or `off`. @throws UsageError */
export function parseRateLimit(text: string): { perSecond: number; burst: number } | false {
  if (text === 'off') return false;
  const m = /^([0-9]+(?:\.[0-9]+)?),([1-9][0-9]*)$/.exec(text);
  if (m === null || !(Number(m[1]) > 0))
    throw new UsageError('--rate-limit must be PER-SECOND,BURST (e.g. 50,100) or "off"');
  return { perSecond: Number(m[1]), burst: Number(m[2]) };
}

/**
 * `--rate-limit`'s value with `--trust-proxy LIST` (comma-separated addresses or CIDR ranges,
 * checked by the verifier: VERIFIER_CONFIG_INVALID) added. @throws UsageError with the limit off
 */
export function withTrustedProxies(
  rateLimit: { perSecond: number; burst: number } | false | undefined,
  list: string | undefined,
): RateLimitOptions | false | undefined {
  if (list === undefined) return rateLimit;
  if (rateLimit === false)
    throw new UsageError('--trust-proxy needs the rate limit on (not --rate-limit off)');
  const trustProxy = list.split(',').map((e) => e.trim());
  if (trustProxy.some((e) => e === '')) throw new UsageError('--trust-proxy must be ADDRESS[/BITS],...');
  return { ...(rateLimit ?? {}), trustProxy };
}

/** `tmb verifier allow-ak`: records the operator's permission in the verifier's database. */
async function allowAk(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    db: { type: 'string' },
    'db-url-file': { type: 'string' },
    agent: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${ALLOW_HELP}\n`);
    return 0;
  }
  const databaseUrl = await readDatabaseUrl(values['db-url-file']);
  if (databaseUrl === undefined && (values.db === undefined || values.db === ':memory:'))
    throw new UsageError("allow-ak needs --db FILE (or --db-url-file FILE), the running verifier's database");
  if (!isAgentName(values.agent))
    throw new UsageError('allow-ak needs --agent NAME (1 to 128 printable ASCII characters)');
  const opened = await openStore({ dbPath: values.db ?? ':memory:', databaseUrl });
  try {
    await opened.store.allowAkReplacement(values.agent, Date.now());
  } finally {
    await opened.close();
  }
  io.stdout(`${JSON.stringify({ allowed: values.agent })}\n`);
  return 0;
}

export async function main(argv: string[], io: Io): Promise<number> {
  if (argv[0] === 'allow-ak') return allowAk(argv.slice(1), io);
  const { values } = parse(argv, {
    db: { type: 'string' },
    'db-url-file': { type: 'string' },
    'db-pool': { type: 'string' },
    'tokens-file': { type: 'string' },
    'reader-tokens-file': { type: 'string' },
    'rate-limit': { type: 'string' },
    'trust-proxy': { type: 'string' },
    'inclusion-deadline': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'result-key': { type: 'string' },
    'ephemeral-key': { type: 'boolean' },
    'log-level': { type: 'string' },
    'metrics-public': { type: 'boolean' },
    registry: { type: 'string' },
    'ima-policy': { type: 'string' },
    'ima-policy-key': { type: 'string' },
    'boot-policy': { type: 'string' },
    'tpm-roots': { type: 'string' },
    'ek-roots': { type: 'string' },
    'ek-intermediates': { type: 'string' },
    'require-hardware-tpm': { type: 'boolean' },
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
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const logger = createLogger({ level: level as LogLevel, sink: { write: (line) => io.stderr(line) } });
  const tokens = parseTokens(text);
  if (tokens.length === 0) logger.warn('no_agent_tokens', { detail: 'no agent can enrol' });
  const readerText = values['reader-tokens-file']
    ? await readFile(values['reader-tokens-file'], 'utf8')
    : process.env.TMB_VERIFIER_READER_TOKENS;
  const readerTokens = readerText === undefined ? [] : parseReaderTokens(readerText);
  const rateLimit = withTrustedProxies(
    values['rate-limit'] === undefined ? undefined : parseRateLimit(values['rate-limit']),
    values['trust-proxy'],
  );
  let inclusionDeadlineMs: number | undefined;
  if (values['inclusion-deadline'] !== undefined) {
    inclusionDeadlineMs = Number(values['inclusion-deadline']);
    if (!/^[1-9][0-9]{0,9}$/.test(values['inclusion-deadline']))
      throw new UsageError('--inclusion-deadline must be a positive whole number of milliseconds');
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isSafeInteger(port) || port < 0 || port > 65535)
      throw new UsageError('--port must be 0..65535');
  }
  const db = values.db ?? '.tmb/verifier.db';
  if (db !== ':memory:') await mkdir(dirname(db), { recursive: true });
  const resultKeyPem = await resultKey(values, db, logger);
  const ek = await ekOptions(values);
  const databaseUrl = await readDatabaseUrl(values['db-url-file']);
  const pool = values['db-pool'] === undefined ? undefined : Number(values['db-pool']);
  if (pool !== undefined && !/^[1-9][0-9]{0,2}$/.test(values['db-pool'] ?? ''))
    throw new UsageError('--db-pool must be a whole number 1..999');
  const verifier = await startVerifier({
    dbPath: db,
    databaseUrl,
    ...(pool !== undefined ? { databasePool: { max: pool, lockConnections: pool } } : {}),
    tokens,
    readerTokens,
    ...(rateLimit !== undefined ? { rateLimit } : {}),
    ...(inclusionDeadlineMs !== undefined ? { inclusionDeadlineMs } : {}),
    host: values.host,
    port,
    resultKeyPem,
    logger,
    metricsPublic: values['metrics-public'] === true,
    ...ek,
    registry: values.registry ? await readFile(values.registry, 'utf8') : undefined,
    imaPolicy: values['ima-policy'] ? await readFile(values['ima-policy'], 'utf8') : undefined,
    imaPolicyKey: values['ima-policy-key'] ? await readFile(values['ima-policy-key'], 'utf8') : undefined,
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

/**
 * The PostgreSQL URL: the text of `file` (trimmed), else TMB_DATABASE_URL, else undefined
 * (SQLite). A URL may hold a password, so it is never a flag value.
 * @throws UsageError when the file or the variable is empty
 */
async function readDatabaseUrl(file: string | undefined): Promise<string | undefined> {
  const text = file === undefined ? process.env.TMB_DATABASE_URL : await readFile(file, 'utf8');
  if (text === undefined) return undefined;
  const url = text.trim();
  if (url === '')
    throw new UsageError(`${file === undefined ? 'TMB_DATABASE_URL' : '--db-url-file'} is empty`);
  return url;
}

/**
 * The EAR signing key: `--result-key FILE`, or result-key.pem beside the database, read or
 * created once (docs/deploy.md, "The verifier key"); undefined (a key made at start) only with
 * `--ephemeral-key`.
 * @throws UsageError for --ephemeral-key with --result-key, or --db :memory: with neither
 */
export async function resultKey(
  values: { 'result-key'?: string; 'ephemeral-key'?: boolean },
  db: string,
  log: { info(event: string, fields: Record<string, string>): void },
): Promise<string | undefined> {
  const path = values['result-key'];
  if (values['ephemeral-key']) {
    if (path !== undefined) throw new UsageError('--ephemeral-key and --result-key exclude each other');
    return undefined;
  }
  if (path === undefined && db === ':memory:')
    throw new UsageError(
      '--db :memory: has no folder for the verifier key: pass --result-key FILE or --ephemeral-key',
    );
  const file = path ?? join(dirname(db), 'result-key.pem');
  const { pem, created } = await loadOrCreateResultKey(file);
  if (created) log.info('result_key_created', { path: file });
  return pem;
}

/**
 * The EK trust options from `--ek-roots` (or its old name `--tpm-roots`), `--ek-intermediates`
 * and `--require-hardware-tpm` (docs/tpm-roots.md).
 * @throws UsageError for both root flags at once, or a folder without certificates
 */
export async function ekOptions(values: {
  'tpm-roots'?: string;
  'ek-roots'?: string;
  'ek-intermediates'?: string;
  'require-hardware-tpm'?: boolean;
}): Promise<{ tpmRoots: string[]; ekIntermediates: string[]; requireHardwareTpm: boolean }> {
  if (values['tpm-roots'] !== undefined && values['ek-roots'] !== undefined)
    throw new UsageError('--tpm-roots is the old name of --ek-roots: give one of them');
  const certs = async (flag: string, dir: string | undefined) => {
    if (dir === undefined) return [];
    const pems = await readRoots(dir);
    if (pems.length === 0) throw new UsageError(`--${flag} ${dir} holds no *.pem or *.crt file`);
    return pems;
  };
  return {
    tpmRoots:
      values['ek-roots'] !== undefined
        ? await certs('ek-roots', values['ek-roots'])
        : await certs('tpm-roots', values['tpm-roots']),
    ekIntermediates: await certs('ek-intermediates', values['ek-intermediates']),
    requireHardwareTpm: values['require-hardware-tpm'] === true,
  };
}

/** Every PEM certificate file (*.pem, *.crt) of a folder, sorted by name. */
async function readRoots(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => /\.(pem|crt)$/.test(n)).sort();
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}
