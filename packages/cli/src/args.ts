import { type ParseArgsConfig, parseArgs } from 'node:util';
import { TmbError } from '@tmb/core';
import type { Io } from './registry.ts';

/** Thrown for bad command-line usage; main prints the message (code CLI_USAGE) and exits 2. */
export class UsageError extends TmbError<'CLI_USAGE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('UsageError', 'CLI_USAGE', message, options);
  }
}

/**
 * The codes `tmb` itself puts in a `--json` error object (docs/errors.md; docs/cli.md, "Errors").
 * Other errors carry their package's code (CoreError, AgentError...).
 */
export const CLI_ERROR_CODES = ['CLI_USAGE', 'CLI_IO_FAILED', 'CLI_FAILED', 'CLI_INTERNAL'] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/**
 * util.parseArgs with strict checking, turning its errors into UsageError so every command
 * reports bad flags the same way.
 */
export function parse<T extends ParseArgsConfig['options']>(
  argv: string[],
  options: T,
  allowPositionals = false,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (cause) {
    throw new UsageError((cause as Error).message);
  }
}

/** Whether one of `flags` is on the command line before a `--` (after it, every word is data). */
export function hasFlag(argv: readonly string[], ...flags: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (flags.includes(a)) return true;
  }
  return false;
}

/** The one line a command prints for an error under `--json`: `{"error": {"code", "message"}}`. */
export function errorLine(code: string, message: string): string {
  return `${JSON.stringify({ error: { code, message } })}\n`;
}

/**
 * Reports a failure that has an error code (a file that does not parse, data that cannot be
 * fitted): with `json`, the error object on stdout; else `tmb COMMAND: CODE: message` on stderr.
 * Returns 1, the exit status of a failed command.
 */
export function fail(io: Io, json: boolean, command: string, code: string, message: string): number {
  if (json) io.stdout(errorLine(code, message));
  else io.stderr(`tmb ${command}: ${code}: ${message}\n`);
  return 1;
}
