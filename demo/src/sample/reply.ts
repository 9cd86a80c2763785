import type { ServerResponse } from 'node:http';
import type { SampleError } from './errors.ts';

/** Sends `value` as a complete JSON answer with a content-length. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.byteLength });
  res.end(bytes);
}

/** Sends an error in OpenAI's shape, unless the answer has already begun (then it cuts it). */
export function sendError(res: ServerResponse, err: SampleError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  sendJson(res, err.status, err.toJSON());
}

/** Starts a server-sent event stream. */
export function startEvents(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/**
 * Writes one SSE event `data: <text>\n\n`, waiting for the socket to drain when its buffer is
 * full (backpressure). Returns false when the client has gone away and the stream should stop.
 */
export async function writeEvent(res: ServerResponse, data: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(`data: ${data}\n\n`)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}
