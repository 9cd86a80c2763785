import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const MAX_CHUNK = 1 << 20;

/**
 * SHA-256 of a file a held fanotify event refers to, read through the helper's fd
 * (`/proc/<helper>/fd/<fd>`): that reopens the very inode being opened, whatever path or mount it
 * was reached by. The helper lets this open (made by its parent) through unreported.
 */
export async function hashHeldFile(helperPid: number, fd: number): Promise<Uint8Array> {
  const fh = await open(`/proc/${helperPid}/fd/${fd}`, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(Math.min(MAX_CHUNK, Math.max(4096, size + 1)));
    const h = createHash('sha256');
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return new Uint8Array(h.digest());
  } finally {
    await fh.close();
  }
}

/** At most `n` calls of `fn` run at once; the rest wait in order. */
export function limit<A extends unknown[], R>(
  n: number,
  fn: (...a: A) => Promise<R>,
): (...a: A) => Promise<R> {
  let running = 0;
  const queue: (() => void)[] = [];
  return async (...a: A) => {
    if (running >= n) await new Promise<void>((r) => queue.push(r));
    running++;
    try {
      return await fn(...a);
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/**
 * The name logged for a path: IMA's `n-ng` cannot hold NUL, and the ASCII log cannot hold a
 * newline (core's writer turns spaces into `_`, as the kernel does); a newline becomes `_` too.
 */
export function loggedName(path: string): string {
  return path.replaceAll('\n', '_');
}
