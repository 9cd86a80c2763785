/**
 * THE SAMPLE MODEL SERVER: a stub, not a model. It speaks enough of the OpenAI API
 * (/v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings; JSON and SSE) for the
 * demo, tests and benchmarks to put a real `tmb agent` in front of something, and its answers
 * are deterministic text derived from a hash of the request. It says so in /v1/models
 * (`owned_by: "tmb-sample"`) and in the `server` header of every answer.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveCompletion } from './completion.ts';
import { serveEmbeddings } from './embeddings.ts';
import { SampleError } from './errors.ts';
import { type ResolvedOptions, resolveOptions, type SampleServerOptions } from './options.ts';
import { parseBody, parseCompletion, parseEmbedding } from './parse.ts';
import { sendError, sendJson } from './reply.ts';
import { loadWeights } from './weights.ts';

/** The `server` header of every answer, so nobody mistakes the sample for a model. */
export const SAMPLE_SERVER_HEADER = 'tmb-sample/0.1 (sample model server: deterministic text, no model)';

/** A running sample server. */
export interface RunningSampleServer {
  /** Base URL without the /v1, e.g. http://127.0.0.1:40123 (an OpenAI client's baseURL is url + '/v1'). */
  url: string;
  /** `sha256:<hex>` of the weights read at start (`weights` option), or null. */
  weights: string | null;
  /** Stops listening and drops open connections, streams in progress included. */
  close(): Promise<void>;
}

const POST_PATHS = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) throw new SampleError('body_too_large', `request body is over ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function modelObject(o: ResolvedOptions) {
  return { id: o.model, object: 'model', created: 1_735_689_600, owned_by: 'tmb-sample' };
}

async function handle(o: ResolvedOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('server', SAMPLE_SERVER_HEADER);
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/v1/models')
    return sendJson(res, 200, { object: 'list', data: [modelObject(o)] });
  if (req.method === 'GET' && path.startsWith('/v1/models/')) {
    if (decodeURIComponent(path.slice('/v1/models/'.length)) === o.model)
      return sendJson(res, 200, modelObject(o));
    throw new SampleError('model_not_found', `The model \`${path.slice(11)}\` does not exist.`, 'model');
  }
  if (req.method === 'GET' && path === '/health') return sendJson(res, 200, { ok: true, sample: true });
  if (!POST_PATHS.has(path)) throw new SampleError('not_found', `no route ${req.method} ${path}`);
  if (req.method !== 'POST')
    throw new SampleError('method_not_allowed', `${path} takes POST, got ${req.method}`);
  const body = await readBody(req, o.maxBodyBytes);
  const json = parseBody(body, o.model);
  if (path === '/v1/embeddings') return serveEmbeddings(res, o, parseEmbedding(json));
  const chat = path === '/v1/chat/completions';
  return serveCompletion(res, o, parseCompletion(json, chat), body, chat);
}

/**
 * Starts a SAMPLE model server on `host:port` (default 127.0.0.1, a free port).
 * @throws RangeError for bad options; the listen error when the port is taken.
 * @example
 *   const s = await startSampleServer({ model: 'sample-7b', tokenLatencyMs: 0 });
 *   const openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused' });
 */
export async function startSampleServer(options: SampleServerOptions): Promise<RunningSampleServer> {
  const o = resolveOptions(options);
  // Loaded before listening, as an engine does: no answer is ever served without them.
  const weights = options.weights === undefined ? undefined : await loadWeights(options.weights);
  const server = createServer((req, res) => {
    try {
      options.onRequest?.(req, res);
    } catch {
      // A listener's failure must not change what the client receives.
    }
    handle(o, req, res).catch((err: unknown) => {
      if (err instanceof SampleError) {
        // An unread remainder of a refused body is not worth reading: close after answering.
        if (err.code === 'body_too_large') res.setHeader('connection', 'close');
        return sendError(res, err);
      }
      res.destroy(err as Error);
    });
  });
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (err) {
    await weights?.release();
    throw err;
  }
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    weights: weights?.digest ?? null,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await weights?.release();
    },
  };
}
