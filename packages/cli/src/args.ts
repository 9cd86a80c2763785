import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Thrown for bad command-line usage; main prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

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
