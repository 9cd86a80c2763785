/**
 * The soak bench's load: `concurrency` closed loops, each sending one streamed (SSE) chat
 * completion at a time with node:http over keep-alive sockets and reading it to its end, until
 * stopped. A response counts as acknowledged when it is a 200 carrying a `tmb-receipt-id` whose
 * stream ended normally with `data: [DONE]`: the agent ends a stream only after its receipt is
 * committed (packages/agent/src/proxy/exchange.ts), so each such id must be in the agent's store.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';

/** Counts and latencies of one load run. */
export interface LoadResult {
  requests: number;
  /** Responses that were not a complete 200 stream, by kind (`status_503`, `aborted`, `timeout`...). */
  errors: Record<string, number>;
  errorCount: number;
  /** Receipt ids of acknowledged responses, in completion order. */
  acknowledged: string[];
  /** Milliseconds from request start to the stream's end, of the complete 200 responses. */
  latencies: number[];
  /** Milliseconds from the load's start to the start of each failed request. */
  errorStarts: number[];
  /** Milliseconds from the load's start to the start of each complete response, as `latencies`. */
  starts: number[];
}

/** A running load. */
export interface Load {
  /** The receipt ids acknowledged so far (a copy). */
  acknowledged(): string[];
  /** Requests that failed so far. */
  errorCount(): number;
  /** Lets every loop finish its current request, then resolves with the result. */
  stop(): Promise<LoadResult>;
}

const DONE = Buffer.from('data: [DONE]\n\n');

/** The body of the streamed chat request every loop sends. */
export function chatBody(model: string, maxTokens: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      model,
      stream: true,
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: 'soak: say something short' }],
    }),
  );
}

/**
 * Starts `concurrency` loops against `${url}/v1/chat/completions`; each request times out after
 * `timeoutMs` (default 60 s). `receipts: false` (direct to the model server) needs no receipt id.
 * `rampMs` (default 0) spreads the loops' first requests evenly over that time.
 */
export function startLoad(
  url: string,
  body: Buffer,
  concurrency: number,
  opts: { timeoutMs?: number; receipts?: boolean; rampMs?: number } = {},
): Load {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const receipts = opts.receipts ?? true;
  const sockets = new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = {
    requests: 0,
    errors: {},
    errorCount: 0,
    acknowledged: [],
    latencies: [],
    errorStarts: [],
    starts: [],
  };
  const t0 = performance.now();
  let stopping = false;
  const fail = (kind: string) => {
    result.errors[kind] = (result.errors[kind] ?? 0) + 1;
    result.errorCount++;
  };
  const loop = async (k: number) => {
    // Loop k starts k/concurrency of the way into the ramp, as a router's clients would arrive.
    const rampMs = opts.rampMs ?? 0;
    if (rampMs > 0) await new Promise((res) => setTimeout(res, (k / concurrency) * rampMs));
    while (!stopping) {
      result.requests++;
      const start = performance.now() - t0;
      const r = await one(sockets, url, body, timeoutMs, receipts);
      if (r.error !== undefined) {
        fail(r.error);
        result.errorStarts.push(start);
        // A refused or broken exchange: do not spin at full speed on a fault.
        await new Promise((res) => setTimeout(res, 20));
      } else {
        if (receipts) result.acknowledged.push(r.receiptId);
        result.latencies.push(r.ms);
        result.starts.push(start);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, (_, k) => loop(k));
  let stopped: Promise<LoadResult> | undefined;
  return {
    acknowledged: () => [...result.acknowledged],
    errorCount: () => result.errorCount,
    stop: () => {
      stopped ??= finish();
      return stopped;
    },
  };
  async function finish(): Promise<LoadResult> {
    stopping = true;
    await Promise.all(loops);
    sockets.destroy();
    return result;
  }
}

type One =
  | { error: string; receiptId?: undefined; ms?: undefined }
  | { error?: undefined; receiptId: string; ms: number };

/** One streamed exchange; never rejects. */
function one(
  sockets: HttpAgent,
  url: string,
  body: Buffer,
  timeoutMs: number,
  receipts: boolean,
): Promise<One> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let settled = false;
    const settle = (r: One) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = httpRequest(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent: sockets,
        headers: { 'content-type': 'application/json', 'content-length': body.byteLength },
      },
      (res) => {
        const id = res.headers['tmb-receipt-id'];
        let tail = Buffer.alloc(0);
        res.on('data', (chunk: Buffer) => {
          tail = Buffer.concat([tail, chunk]).subarray(-DONE.length);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) settle({ error: `status_${res.statusCode}` });
          else if (!tail.equals(DONE)) settle({ error: 'incomplete_stream' });
          else if (typeof id !== 'string' && receipts) settle({ error: 'no_receipt_id' });
          else settle({ receiptId: typeof id === 'string' ? id : '', ms: performance.now() - t0 });
        });
        res.on('error', () => settle({ error: 'aborted' }));
        res.on('close', () => settle({ error: 'aborted' }));
      },
    );
    const timer = setTimeout(() => {
      settle({ error: 'timeout' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => settle({ error: err.code ?? 'request_error' }));
    req.end(body);
  });
}
