import { open } from 'node:fs/promises';
import { UsageError } from './args.ts';

/** Bytes asked of the file system per read: large enough to amortise the call, small enough to stay flat. */
export const CHUNK_BYTES = 1 << 16;

/**
 * Thrown when an input is larger than the cap its reader set. A UsageError, so `main` prints
 * the message and exits 2 like any other unreadable input.
 */
export class InputTooLargeError extends UsageError {
  /** The path as given. */
  readonly path: string;
  /** The cap that was passed. */
  readonly maxBytes: number;
  constructor(path: string, maxBytes: number) {
    super(`${path}: larger than ${maxBytes} bytes, the most this command reads`);
    this.name = 'InputTooLargeError';
    this.path = path;
    this.maxBytes = maxBytes;
  }
}

/**
 * Reads a whole file, refusing one larger than `maxBytes` without reading past the cap: a
 * regular file is refused from its size alone; a device, pipe or FIFO (/dev/zero, `<(...)`) is
 * read at most `maxBytes + 1` bytes. `-` reads standard input. Memory stays within about
 * `maxBytes` whatever the file claims to be.
 *
 * @throws InputTooLargeError when the input holds more than `maxBytes` bytes.
 * @throws UsageError when it cannot be opened or read (the message names the path).
 * @example const text = new TextDecoder().decode(await readBounded(path, 64 << 20));
 */
export async function readBounded(path: string, maxBytes: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
    throw new RangeError('maxBytes is a safe integer >= 0');
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of readChunks(path, { maxBytes: maxBytes + 1, refuseLarger: true })) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new InputTooLargeError(path, maxBytes);
    parts.push(chunk);
  }
  return concat(parts, total);
}

/** Options of {@link readChunks}. */
export interface ReadChunksOptions {
  /** Bytes per read; left out, {@link CHUNK_BYTES}. */
  readonly chunkBytes?: number;
  /**
   * Stops after this many bytes in all (the last chunk is cut to fit); left out, no cap, so the
   * caller must stop iterating itself (a streaming parser does, at its first error).
   */
  readonly maxBytes?: number;
  /** Internal to readBounded: a regular file bigger than `maxBytes - 1` is refused from its size. */
  readonly refuseLarger?: boolean;
}

/**
 * Yields a file's bytes chunk by chunk, each a fresh buffer the caller may keep. Works on
 * regular files, devices and pipes alike; `-` is standard input. Breaking out of the loop
 * closes the file, so a parser that fails at byte 28 of a 1 GiB file reads one chunk.
 *
 * @throws UsageError when the path cannot be opened or read.
 */
export async function* readChunks(path: string, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  let left = options.maxBytes ?? Number.POSITIVE_INFINITY;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path === '-' ? '/dev/stdin' : path, 'r');
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new UsageError(`${path}: is a directory`);
    // A regular file's size is known: one larger than the cap is refused before a byte is read.
    if (options.refuseLarger === true && stat.isFile() && stat.size > left - 1) {
      throw new InputTooLargeError(path, left - 1);
    }
    while (left > 0) {
      const want = Math.min(chunkBytes, left);
      const buf = new Uint8Array(want);
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buf, 0, want, null));
      } catch (err) {
        throw new UsageError(`${path}: ${(err as Error).message}`);
      }
      if (n === 0) return;
      left -= n;
      yield n === want ? buf : buf.subarray(0, n);
    }
  } finally {
    await handle.close();
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
