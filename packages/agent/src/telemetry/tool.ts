import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * The absolute, symlink-free path of the program `command` names, as the kernel's IMA log
 * records it when the program runs: a command with a `/` is resolved against the working
 * folder, a bare name against PATH (the first executable regular file, as execvp finds it).
 * Evidence names it (`telemetryTool`) so the verifier can find its measurement.
 * @returns null when no executable file is found
 */
export function resolveExecutable(command: string, path = process.env.PATH ?? ''): string | null {
  const candidates = command.includes('/')
    ? [resolve(command)]
    : path
        .split(delimiter)
        .filter((d) => d !== '' && isAbsolute(d))
        .map((d) => join(d, command));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return realpathSync(c);
    } catch {}
  }
  return null;
}
