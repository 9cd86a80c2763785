import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where and how long the HTTP server waits. */
export interface ListenOptions {
  host: string;
  port: number;
  /** Whole-request limit, ms; headers get at most 10 s of it. */
  requestTimeoutMs: number;
  /** Longest long-poll, ms: idle sockets live this plus 30 s. */
  maxWaitMs: number;
}

/** A listening HTTP server, its base URL and a close that ends every connection. */
export interface Listening {
  server: Server;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Stops accepting, gives pending long-polls one turn to answer, then cuts every connection. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server for `handle` and resolves once it listens. Node answers unparseable
 * requests and request timeouts itself, with no body; they are answered here in the same JSON
 * error shape as everything else (BODY_MALFORMED, REQUEST_TIMEOUT).
 */
export async function listen(
  o: ListenOptions,
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<Listening> {
  const server = createServer(
    {
      requestTimeout: o.requestTimeoutMs,
      headersTimeout: Math.min(o.requestTimeoutMs, 10_000),
      connectionsCheckingInterval: Math.min(o.requestTimeoutMs, 1000),
    },
    (req, res) => {
      handle(req, res).catch(() => res.destroy());
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const body = JSON.stringify({
      error: timeout
        ? { code: 'REQUEST_TIMEOUT', message: `request not received within ${o.requestTimeoutMs} ms` }
        : { code: 'BODY_MALFORMED', message: 'malformed HTTP request' },
    });
    socket.end(
      `HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  // Idle sockets: long enough for the longest long-poll, short enough not to pile up.
  server.timeout = o.maxWaitMs + 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    server,
    url: `http://${host}:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give pending long-polls one turn to answer 404, then cut whatever is left.
      await new Promise((r) => setImmediate(r));
      server.closeAllConnections();
      await closed;
    },
  };
}
