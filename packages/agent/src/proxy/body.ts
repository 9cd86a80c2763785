import type { IncomingMessage } from 'node:http';

/** How reading a request body ended. */
export interface BodyRead {
  /** The bytes read; empty when the body was over the limit. */
  body: Buffer;
  /** The body crossed the limit: reading stopped there and the rest is never read. */
  tooLarge: boolean;
  /** The client went away (error, or closed before the body's end). */
  clientGone: boolean;
}

/**
 * Reads a request body, at most `max` bytes, passing each chunk it keeps to `onChunk` (so the
 * receipt of a refused body covers the bytes read before the limit was crossed). Never rejects.
 */
export function readBody(
  req: IncomingMessage,
  max: number,
  onChunk: (chunk: Buffer) => void,
): Promise<BodyRead> {
  const parts: Buffer[] = [];
  let bytes = 0;
  let tooLarge = false;
  let clientGone = false;
  // Plain events rather than an async iterator: this runs once per request (profiled: the iterator's
  // machinery cost more than the hashing).
  return new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      if (bytes + chunk.length > max) {
        tooLarge = true;
        req.off('data', onData);
        req.pause();
        resolve();
        return;
      }
      bytes += chunk.length;
      onChunk(chunk);
      parts.push(chunk);
    };
    req.on('data', onData);
    req.once('end', resolve);
    req.once('error', () => {
      clientGone = true;
      resolve();
    });
    req.once('close', () => {
      if (!req.complete) clientGone = true;
      resolve();
    });
  }).then(() => ({
    body: tooLarge ? Buffer.alloc(0) : parts.length === 1 ? parts[0]! : Buffer.concat(parts),
    tooLarge,
    clientGone,
  }));
}
