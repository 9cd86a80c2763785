import postgres from 'postgres';
import { VerifierError } from '../errors.ts';

/** A connection pool of the `postgres` client. */
export type Sql = postgres.Sql;

/** How the verifier talks to PostgreSQL (docs/deploy.md "PostgreSQL"). */
export interface PgPoolOptions {
  /** Most connections of the store's pool. Default 10 (PostgreSQL's default max_connections is
   * 100: ten verifier processes fit with room for the per-agent lock pools and an operator). */
  max?: number;
  /** Seconds to wait for a connection to open. Default 10: a server that does not answer fails
   * the start (STORE_UNREACHABLE) instead of hanging it. */
  connectTimeoutS?: number;
  /** Longest one statement may run, ms (server side `statement_timeout`). Default 30,000. */
  statementTimeoutMs?: number;
  /** Seconds an idle connection is kept. Default 60. */
  idleTimeoutS?: number;
}

/**
 * The URL with its password replaced by `***` (and nothing after the path but the socket
 * directory its `host` parameter names): what messages and logs may show. A text that is no URL is shown as `(invalid URL)`.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return '(invalid URL)';
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  u.search = '';
  u.hash = '';
  const dir = new URL(url).searchParams.get('host');
  return dir === null ? u.toString() : `${u.toString()} (socket directory ${dir})`;
}

/**
 * A bounded pool on `url` (postgres:// or postgresql://), with connect and statement timeouts,
 * over TCP or a unix-domain socket when the URL names a socket directory ({@link socketTarget}).
 * Connections open lazily: call {@link checkConnection} to fail early.
 * @throws VerifierError VERIFIER_CONFIG_INVALID when the URL is not a postgres URL (it is not echoed)
 */
export function pgPool(url: string, o: PgPoolOptions = {}, name = 'tmb-verifier'): Sql {
  if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol))
    throw new VerifierError(
      'VERIFIER_CONFIG_INVALID',
      'the database URL is not a postgres:// or postgresql:// URL (its text is not shown: it may hold a password)',
    );
  const max = o.max ?? 10;
  if (!Number.isSafeInteger(max) || max < 1 || max > 1000)
    throw new VerifierError('VERIFIER_CONFIG_INVALID', `pool size must be 1..1000, found ${max}`);
  const { driverUrl, socketDir } = socketTarget(url);
  return postgres(driverUrl, {
    ...(socketDir === undefined ? {} : { host: socketDir }),
    max,
    connect_timeout: o.connectTimeoutS ?? 10,
    idle_timeout: o.idleTimeoutS ?? 60,
    onnotice: () => {}, // "already exists, skipping" and the like: not the operator's business
    connection: {
      application_name: name,
      statement_timeout: o.statementTimeoutMs ?? 30_000,
    },
  });
}

/**
 * Where `url` says to connect: a unix-domain socket directory, as libpq spells it, either the
 * `host` query parameter (`postgres://USER:PASSWORD@localhost/DB?host=/var/run/postgresql`, which
 * overrides the URL's host) or a percent-encoded host (`postgres://USER@%2Fvar%2Frun%2Fpostgresql/DB`),
 * a path that starts with `/`; else TCP to the URL's host. postgres.js takes neither form itself:
 * it wants the directory as its `host` option (it then connects to `DIR/.s.PGSQL.PORT`, the port
 * from the URL or 5432), and it would send a `host` query parameter to the server as a setting.
 * `driverUrl` is the URL without them.
 * @throws VerifierError VERIFIER_CONFIG_INVALID when a socket directory is not an absolute path
 */
export function socketTarget(url: string): { driverUrl: string; socketDir?: string } {
  const u = new URL(url);
  const param = u.searchParams.get('host');
  const encoded = u.hostname.startsWith('%2F') || u.hostname.startsWith('%2f');
  if (param === null && !encoded) return { driverUrl: url };
  const dir = param ?? decodeURIComponent(u.hostname);
  // An absolute path (what libpq reads as a socket directory); a TCP host in `host` is not taken.
  if (!dir.startsWith('/') || dir.includes('\0'))
    throw new VerifierError(
      'VERIFIER_CONFIG_INVALID',
      "the database URL's host parameter must be a socket directory (an absolute path)",
    );
  u.searchParams.delete('host');
  if (encoded) u.hostname = 'localhost';
  return { driverUrl: u.toString(), socketDir: dir };
}

// SQLSTATE classes and codes (PostgreSQL Appendix A) that mean "these credentials or this
// database are refused", as opposed to a server out of reach.
const REFUSED = new Set(['28000', '28P01', '3D000', '42501']);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ENOENT', // no socket file in a unix socket directory
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * The store error for a failed connection to `url`: STORE_AUTH_FAILED when the server refused the
 * user, password or database, STORE_UNREACHABLE when it could not be reached, else STORE_FAILED.
 * The message names the redacted URL and the driver's code; the driver's error is not kept as
 * `cause` (a driver error may carry connection options).
 */
export function connectError(err: unknown, url: string): VerifierError {
  const code = String((err as { code?: unknown })?.code ?? '');
  const where = redactUrl(url);
  if (REFUSED.has(code) || code.startsWith('SASL') || code === 'AUTH_TYPE_NOT_IMPLEMENTED')
    return new VerifierError(
      'STORE_AUTH_FAILED',
      `PostgreSQL at ${where} refused the connection (${code}: ${messageOf(err, url)})`,
    );
  if (NETWORK.has(code))
    return new VerifierError('STORE_UNREACHABLE', `cannot reach PostgreSQL at ${where} (${code})`);
  return new VerifierError('STORE_FAILED', `PostgreSQL at ${where} failed (${code || 'no code'})`);
}

/** The driver's message with the URL's password removed, should a server ever echo it. */
function messageOf(err: unknown, url: string): string {
  const text = err instanceof Error ? err.message : String(err);
  const password = URL.canParse(url) ? decodeURIComponent(new URL(url).password) : '';
  return password === '' ? text : text.split(password).join('***');
}

/**
 * Opens one connection and runs a trivial query, so a wrong URL, password or database fails at
 * start rather than at the first request.
 * @throws VerifierError STORE_AUTH_FAILED | STORE_UNREACHABLE | STORE_FAILED
 */
export async function checkConnection(sql: Sql, url: string): Promise<void> {
  try {
    await sql`SELECT 1`;
  } catch (err) {
    throw connectError(err, url);
  }
}

// Serialization failure and deadlock (SQLSTATE 40001, 40P01): the transaction may be run again.
const RETRY = new Set(['40001', '40P01']);

/**
 * Whether `err` (or its cause) says the connection is gone: the driver's codes for a closed or
 * reset socket, SQLSTATE class 08 (connection exception), 57P01-57P03 (the server ends the session).
 */
export function isConnectionLost(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = String((e as { code?: unknown }).code ?? '');
    if (NETWORK.has(code) || code === 'EPIPE' || code.startsWith('08') || /^57P0[1-3]$/.test(code))
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A promise that never settles (one per use, so nothing accumulates on a shared one). */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/**
 * Runs `fn` in a transaction, again (up to 3 tries) when PostgreSQL aborted it for a
 * serialization failure or a deadlock with another writer. `fn` must use only `tx`.
 *
 * When the connection is lost under `fn`, nothing more is written on it: postgres.js 3.4.9 would
 * send its ROLLBACK to the closed socket from a setImmediate and crash the process with an
 * uncaught TypeError (porsager/postgres#1208, #1154; unfixed in 3.4.9). `sql.begin` itself
 * rejects with the connection error as the socket closes, and the server has rolled back.
 */
export async function transaction<T>(sql: Sql, fn: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await sql.begin(async (tx) => {
        try {
          return { value: await fn(tx) };
        } catch (err) {
          if (isConnectionLost(err)) return never<{ value: T }>();
          throw err;
        }
      });
      return out.value as T;
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      if (attempt >= 3 || typeof code !== 'string' || !RETRY.has(code)) throw err;
    }
  }
}
