#!/usr/bin/env node
import { errorLine, hasFlag, UsageError } from './args.ts';
import { COMMANDS, type Io } from './registry.ts';
import { holdSignals, onClosedOutput } from './signals.ts';

const USAGE = () =>
  [
    'usage: tmb <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(13)} ${c.summary}`),
    '',
    "tmb <command> --help shows a command's options (and its subcommands'); --json makes every",
    'command print JSON, errors included (docs/cli.md).',
  ].join('\n');

/**
 * The process's own standard streams. A write after the reader went away (`tmb ... | head -1`)
 * is dropped instead of throwing EPIPE (signals.ts, onClosedOutput).
 */
export const processIo: Io = {
  stdout: (t) => {
    if (process.stdout.writable) process.stdout.write(t);
  },
  stderr: (t) => {
    if (process.stderr.writable) process.stderr.write(t);
  },
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  },
};

/**
 * Runs `tmb` with `argv` (without node and script); returns the exit status. Two rules hold for
 * every command and subcommand, so none can forget them: `--help` or `-h` (before `--`) prints
 * the command's usage and exits 0; with `--json` an error is one `{"error": {"code", "message"}}`
 * line on stdout with the exit status unchanged (2 for bad usage). Without `--json`, errors
 * other than bad usage are thrown to the caller (the process prints `tmb: message`, exits 1).
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  const json = hasFlag(argv, '--json');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${USAGE()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    if (json) io.stdout(errorLine('CLI_USAGE', `unknown command ${JSON.stringify(name)} (tmb --help)`));
    else io.stderr(`tmb: unknown command ${JSON.stringify(name)}\n\n${USAGE()}\n`);
    return 2;
  }
  const sub = rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : '';
  if (io === processIo && command.untilSignal?.includes(sub) === true) holdSignals();
  if (!json) {
    const mod = await command.load();
    if (hasFlag(rest, '--help', '-h')) return mod.main(['--help'], io);
    try {
      return await mod.main(rest, io);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.stderr(`tmb ${name}: ${err.message}\n`);
      return 2;
    }
  }
  // --json: the command's own stdout and stderr pass through; what it printed is noted so that
  // a failure it reported only in prose on stderr still ends in one error object on stdout.
  let printed = false;
  let lastErr = '';
  const watched: Io = {
    stdout: (t) => {
      printed = true;
      io.stdout(t);
    },
    stderr: (t) => {
      const line = t.trimEnd().split('\n').at(-1);
      if (line) lastErr = line;
      io.stderr(t);
    },
    stdin: io.stdin,
  };
  try {
    const mod = await command.load();
    if (hasFlag(rest, '--help', '-h')) return await mod.main(['--help'], io);
    const args = command.jsonAlways?.includes(sub) === true ? withoutJson(rest) : rest;
    const code = await mod.main(args, watched);
    if (code !== 0 && !printed) {
      const message = lastErr.replace(/^tmb [a-z-]+: /, '') || `tmb ${name} exited ${code}`;
      io.stdout(errorLine(/\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/.exec(message)?.[0] ?? 'CLI_FAILED', message));
    }
    return code;
  } catch (err) {
    const { code, message, status } = describe(err);
    io.stdout(errorLine(code, message));
    return status;
  }
}

/** The argv without its `--json` flags (those before a `--`). */
function withoutJson(argv: string[]): string[] {
  const end = argv.indexOf('--');
  const head = (end < 0 ? argv : argv.slice(0, end)).filter((a) => a !== '--json');
  return end < 0 ? head : [...head, ...argv.slice(end)];
}

/**
 * The error object of a thrown error: bad usage (exit 2); an error of a TMB package, with its own
 * code (exit 1); a failed system call such as ENOENT (CLI_IO_FAILED, exit 1); another of Node's
 * errors (`ERR_...`: CLI_FAILED, exit 1); anything else is a bug (CLI_INTERNAL, exit 1).
 */
function describe(err: unknown): { code: string; message: string; status: number } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof UsageError) return { code: 'CLI_USAGE', message, status: 2 };
  const code = (err as { code?: unknown } | null)?.code;
  const syscall = (err as { syscall?: unknown } | null)?.syscall;
  if (typeof code === 'string' && code.startsWith('ERR_')) return { code: 'CLI_FAILED', message, status: 1 };
  if (typeof code === 'string' && /^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/.test(code))
    return { code, message, status: 1 };
  if (typeof code === 'string' && (typeof syscall === 'string' || /^E[A-Z]+$/.test(code)))
    return { code: 'CLI_IO_FAILED', message, status: 1 };
  // fetch's TypeError('fetch failed') carries the socket's error as its cause.
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof cause === 'string' && /^E[A-Z]+$/.test(cause))
    return { code: 'CLI_IO_FAILED', message: `${message}: ${cause}`, status: 1 };
  return { code: 'CLI_INTERNAL', message, status: 1 };
}

if (import.meta.main) {
  onClosedOutput();
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tmb: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
