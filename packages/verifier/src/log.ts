/**
 * The verifier's structured log: one JSON object per line, per event (docs/deploy.md, "Logs").
 * Hand-written rather than pino: the service logs a few dozen events, synchronously, to one
 * stream; fifty lines here beat a dependency tree of eleven packages, and the tests read the
 * lines back through the same small sink interface.
 *
 * A line: `{"time":"2026-…Z","level":"info","event":"evidence_accepted","requestId":"…",…}`.
 * Events are snake_case names; their fields are listed in docs/deploy.md. Secrets never reach
 * a line: fields named like a token, secret, nonce, proof or key material are dropped here as a
 * last guard (callers do not pass them in the first place).
 */

/** Levels, least to most severe; `silent` logs nothing. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where lines go: process.stderr by default; tests pass a collector. */
export interface LogSink {
  write(line: string): unknown;
}

/** Values a log field may hold. */
export type LogValue = string | number | boolean | null | undefined | readonly string[];
export type LogFields = Record<string, LogValue>;

/** A structured logger; `child` adds fields (a request id) to every line it writes. */
export interface Logger {
  readonly level: LogLevel;
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Field names never written, whatever a caller passes (matched case-insensitively). */
const SECRET_FIELD = /^(token|authorization|secret|nonce|proof|password|privatekey|pem|key)$/i;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Least severe level written. Default `info`. */
  level?: LogLevel;
  /** Default process.stderr. */
  sink?: LogSink;
  /** Clock, Unix ms. Default Date.now. */
  now?: () => number;
}

/** A logger writing JSON lines to `sink` at `level` and above. */
export function createLogger(o: LoggerOptions = {}, base: LogFields = {}): Logger {
  const level = o.level ?? 'info';
  const sink = o.sink ?? process.stderr;
  const now = o.now ?? Date.now;
  const min = LOG_LEVELS.indexOf(level);
  const write = (at: LogLevel, event: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(at) < min) return;
    const line: Record<string, LogValue> = { time: new Date(now()).toISOString(), level: at, event };
    for (const src of [base, fields])
      for (const [k, v] of Object.entries(src))
        if (v !== undefined && !SECRET_FIELD.test(k) && !(k in line)) line[k] = v;
    sink.write(`${JSON.stringify(line)}\n`);
  };
  return {
    level,
    debug: (e, f) => write('debug', e, f),
    info: (e, f) => write('info', e, f),
    warn: (e, f) => write('warn', e, f),
    error: (e, f) => write('error', e, f),
    child: (fields) => createLogger(o, { ...base, ...fields }),
  };
}

/** A logger that writes nothing. */
export const SILENT_LOGGER: Logger = createLogger({ level: 'silent' });
