import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** One line of the load balancer's access log (nginx.ts's `tmb` log format), as nginx wrote it. */
export interface AccessEntry {
  time: string;
  /** nginx's `$request_id`, sent upstream as `x-request-id` (`requestId: true`). */
  requestId: string;
  /** `$upstream_addr`: the server that served it (host:port), or several when nginx retried. */
  upstream: string;
  status: string;
  upstreamStatus: string;
  /** Seconds, as nginx prints them (`$request_time`, `$upstream_response_time`). */
  requestTime: string;
  upstreamTime: string;
  method: string;
  uri: string;
}

/** Bytes read from the log at a time; a longer line than this is skipped, not parsed. */
const CHUNK = 64 * 1024;

/**
 * Reads the access log as nginx appends to it: the ground truth of where each request went.
 * Reads only the new bytes on each look and keeps every entry by request id.
 */
export class AccessLog {
  readonly path: string;
  readonly #entries = new Map<string, AccessEntry>();
  #offset = 0;
  #partial = '';

  constructor(path: string) {
    this.path = path;
  }

  /**
   * The entry of request `requestId`, waiting up to `timeoutMs` for nginx to write it (it logs
   * when the request ends, which a client can see a moment before the line is written).
   * Undefined when no such line appeared in time.
   */
  async find(requestId: string, timeoutMs = 5_000): Promise<AccessEntry | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.#readNew();
      const e = this.#entries.get(requestId);
      if (e !== undefined || Date.now() >= deadline) return e;
      await sleep(20);
    }
  }

  /** Every entry read so far, in the log's order. */
  async entries(): Promise<AccessEntry[]> {
    await this.#readNew();
    return [...this.#entries.values()];
  }

  async #readNew(): Promise<void> {
    const f = await open(this.path, 'r').catch(() => undefined);
    if (f === undefined) return; // nginx creates it at start; absent only before the first line
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await f.read(buf, 0, CHUNK, this.#offset);
        if (bytesRead === 0) return;
        this.#offset += bytesRead;
        const lines = (this.#partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        this.#partial = lines.pop()!.slice(-CHUNK);
        for (const line of lines) this.#add(line);
      }
    } finally {
      await f.close();
    }
  }

  #add(line: string): void {
    try {
      const e = JSON.parse(line) as AccessEntry;
      if (typeof e.requestId === 'string' && typeof e.upstream === 'string')
        this.#entries.set(e.requestId, e);
    } catch {} // a line not in the tmb format (nginx writes only those: never expected)
  }
}
