/**
 * The scale bench's HTTP client: node:http over keep-alive sockets to one verifier, a bounded
 * number of them, every answer read whole (at most 4 MiB) within a timeout.
 */
import { Agent, request } from 'node:http';

const MAX_ANSWER = 4 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

/** One answer: status, body text and the time to its last byte (ms). */
export interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** Requests to one verifier over at most `sockets` keep-alive connections. */
export class Http {
  readonly #base: string;
  readonly #agent: Agent;

  constructor(base: string, sockets: number) {
    this.#base = base;
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  /**
   * Sends one request (Bearer `token` when given) and reads the whole answer. A request on a
   * kept-alive socket that the server closed meanwhile (ECONNRESET before any answer) is sent
   * again once on a new one, as Node's documentation advises.
   */
  async request(method: string, path: string, token: string | null, body?: string): Promise<Answer> {
    try {
      return await this.#once(method, path, token, body);
    } catch (err) {
      if ((err as { retry?: boolean }).retry !== true) throw err;
      return this.#once(method, path, token, body);
    }
  }

  #once(method: string, path: string, token: string | null, body?: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const headers: Record<string, string | number> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = request(
        this.#base + path,
        { method, agent: this.#agent, headers, timeout: TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER) req.destroy(new Error(`answer to ${path} over ${MAX_ANSWER} bytes`));
            else chunks.push(c);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - t0,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${path}: no answer in ${TIMEOUT_MS} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const err = new Error(`${method} ${path}: ${e.message}`, { cause: e });
        reject(Object.assign(err, { retry: req.reusedSocket && e.code === 'ECONNRESET' }));
      });
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
