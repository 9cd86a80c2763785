import { execFile } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { KernelSimError } from './errors.ts';

/** The fanotify helper's C source (demo/kernel/fanotify.c). */
export const HELPER_SOURCE = fileURLToPath(new URL('../../kernel/fanotify.c', import.meta.url));
/** Where scripts/bootstrap.sh (or helperBinary) compiles it; the folder is git-ignored. */
export const HELPER_BINARY = fileURLToPath(new URL('../../kernel/build/fanotify', import.meta.url));

async function mtime(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * The helper's path, compiled first when it is missing or older than its source (the same gcc
 * command as scripts/bootstrap.sh; written under a temporary name and renamed, so concurrent
 * callers never run a half-written binary).
 * @throws KernelSimError SIMKERNEL_UNAVAILABLE (missing `gcc`) when it must be compiled and gcc is
 *   absent or fails
 */
export async function helperBinary(): Promise<string> {
  const src = await mtime(HELPER_SOURCE);
  const bin = await mtime(HELPER_BINARY);
  if (bin !== null && (src === null || bin >= src)) return HELPER_BINARY;
  await mkdir(fileURLToPath(new URL('../../kernel/build/', import.meta.url)), { recursive: true });
  const tmp = `${HELPER_BINARY}.${process.pid}.tmp`;
  await new Promise<void>((ok, fail) => {
    execFile('gcc', ['-O2', '-Wall', '-o', tmp, HELPER_SOURCE], { timeout: 60_000 }, (err, _out, stderr) => {
      if (err === null) return ok();
      const absent = (err as NodeJS.ErrnoException).code === 'ENOENT';
      fail(
        new KernelSimError(
          'SIMKERNEL_UNAVAILABLE',
          absent
            ? 'gcc is not installed: the simulated kernel compiles its fanotify helper with it (apt-get install gcc libc6-dev)'
            : `gcc failed on ${HELPER_SOURCE}: ${stderr.trim()}`,
          { missing: 'gcc', cause: err },
        ),
      );
    });
  });
  await rename(tmp, HELPER_BINARY);
  return HELPER_BINARY;
}
