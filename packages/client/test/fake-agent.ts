// A tiny stand-in for the agent, written for these tests only: it answers OpenAI-style requests
// itself (JSON or SSE), hashes the exact bytes with node:crypto, signs a receipt with core's
// encoder and an Ed25519 key, and pushes it to a real verifier after the response ends.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  agentKeyId,
  CLIENT_NONCE_HEADER,
  CLIENT_NONCE_PATTERN,
  concat,
  ed25519Raw,
  encodeReceiptBody,
  type ReceiptBody,
  receiptSigningMessage,
  toBase64Url,
  toSignedReceipt,
  utf8,
} from '@tmb/core';

export const TOKEN = 'client-test-token-0123456789';
/** The agent name TOKEN is issued for (every token names one agent). */
export const AGENT = 'fake-agent';

export interface Exchange {
  receiptId: string;
  request: Buffer;
  response: Buffer;
}

export interface FakeAgent {
  url: string;
  exchanges: Exchange[];
  /** When set, streamed answers wait for this before their last event. */
  hold: Promise<void> | null;
  /** When false, receipts are not pushed (to test RECEIPT_NOT_FOUND). */
  push: boolean;
  close(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function completion(model: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [
      { index: 0, message: { role: 'assistant', content: 'Hello there, friend.' }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  });
}

function events(model: string): string[] {
  const words = ['Hello', ' there', ',', ' friend', '.'];
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return [...words.map((w) => chunk({ content: w }, null)), chunk({}, 'stop'), 'data: [DONE]\n\n'];
}

export async function startFakeAgent(verifierUrl: string, name = AGENT): Promise<FakeAgent> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = ed25519Raw(publicKey);
  const keyId = agentKeyId(raw);
  const proof = sign(null, concat(utf8('tmb.enroll.v1\n'), utf8(name), utf8('\n'), raw), privateKey);
  const enrolled = await fetch(`${verifierUrl}/v1/agents/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ agent: name, key: toBase64Url(raw), proof: toBase64Url(new Uint8Array(proof)) }),
  });
  if (enrolled.status !== 200) throw new Error(`enrolment failed: ${enrolled.status}`);
  let seq = 0;

  const agent: FakeAgent = { url: '', exchanges: [], hold: null, push: true, close: async () => {} };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = await readAll(req);
    const start = Date.now() * 1000;
    const id = randomBytes(16).toString('hex');
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? `req-${id.slice(0, 8)}`;
    const parsed = JSON.parse(request.toString('utf8')) as { model: string; stream?: boolean };
    const stream = parsed.stream === true;
    res.writeHead(200, {
      'content-type': stream ? 'text/event-stream' : 'application/json',
      'tmb-receipt-id': id,
      'tmb-receipt-url': `${verifierUrl}/v1/receipts/${id}`,
      'x-request-id': requestId,
    });
    const sent: Buffer[] = [];
    const parts = stream ? events(parsed.model) : [completion(parsed.model)];
    for (const [i, part] of parts.entries()) {
      if (stream && i === parts.length - 1 && agent.hold !== null) await agent.hold;
      const b = Buffer.from(part, 'utf8');
      sent.push(b);
      res.write(b);
    }
    res.end();
    const response = Buffer.concat(sent);
    agent.exchanges.push({ receiptId: id, request, response });
    const nonce = req.headers[CLIENT_NONCE_HEADER];
    const body: ReceiptBody = {
      v: 2,
      type: 'tmb.receipt',
      id,
      agent: name,
      key: keyId,
      seq: seq++,
      request: {
        id: requestId,
        method: req.method ?? 'POST',
        path: req.url ?? '/',
        bytes: request.length,
        sha256: createHash('sha256').update(request).digest('hex'),
      },
      response: {
        status: 200,
        upstreamStatus: 200,
        stream,
        bytes: response.length,
        sha256: createHash('sha256').update(response).digest('hex'),
      },
      model: { requested: parsed.model, reported: parsed.model },
      usage: { prompt: null, completion: null, total: null },
      time: { start, firstByte: start, end: Date.now() * 1000 },
      outcome: 'complete',
      client: { nonce: typeof nonce === 'string' && CLIENT_NONCE_PATTERN.test(nonce) ? nonce : null },
      served: { weights: null, engine: null },
    };
    if (!agent.push) return;
    const bytes = encodeReceiptBody(body);
    const sig = new Uint8Array(sign(null, receiptSigningMessage(bytes), privateKey));
    await fetch(`${verifierUrl}/v1/receipts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ agent: name, receipts: [toSignedReceipt(bytes, sig)] }),
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  agent.url = await listen(server);
  agent.close = () => stop(server);
  return agent;
}

/**
 * A proxy between client and agent that changes one response byte (the first 'H' of the
 * answer becomes 'J') or one request byte, keeping lengths: the "altered after the agent" case.
 */
export async function startTamperProxy(
  target: string,
  what: 'response' | 'request',
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    let body = await readAll(req);
    if (what === 'request') body = Buffer.from(body.toString('utf8').replace('"user"', '"User"'), 'utf8');
    const up = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers: forwarded(req),
      body: new Uint8Array(body),
    });
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'tmb-receipt-id', 'tmb-receipt-url', 'x-request-id']) {
      const v = up.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    res.writeHead(up.status, headers);
    let out = Buffer.from(await up.arrayBuffer());
    if (what === 'response') {
      const at = out.indexOf('Hello');
      out = Buffer.from(out);
      out[at] = 'J'.charCodeAt(0);
    }
    res.end(out);
  });
  const url = await listen(server);
  return { url, close: () => stop(server) };
}

/** The request headers a router passes on: content type and the client's nonce. */
function forwarded(req: IncomingMessage): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  const nonce = req.headers[CLIENT_NONCE_HEADER];
  if (typeof nonce === 'string') h[CLIENT_NONCE_HEADER] = nonce;
  return h;
}

/**
 * A dishonest router in front of the agent. `replay`: the first answer to a request body is
 * kept, and every later request with the same body gets those bytes and that receipt id without
 * reaching the agent (a cache relabelling the second answer with the first one's receipt).
 * `copy-id`: each answer is the agent's own, but labelled with the previous answer's
 * `tmb-receipt-id` (a router copying another request's receipt id).
 */
export async function startRouter(
  target: string,
  mode: 'replay' | 'copy-id',
): Promise<{ url: string; close(): Promise<void> }> {
  const cache = new Map<string, { status: number; headers: Record<string, string>; body: Buffer }>();
  let lastId: string | null = null;
  const server = createServer(async (req, res) => {
    const body = await readAll(req);
    const hit = mode === 'replay' ? cache.get(body.toString('hex')) : undefined;
    if (hit !== undefined) {
      res.writeHead(hit.status, hit.headers).end(hit.body);
      return;
    }
    const up = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers: forwarded(req),
      body: new Uint8Array(body),
    });
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'tmb-receipt-id', 'x-request-id']) {
      const v = up.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    const out = Buffer.from(await up.arrayBuffer());
    if (mode === 'copy-id') {
      const own = headers['tmb-receipt-id'] ?? null;
      if (lastId !== null) headers['tmb-receipt-id'] = lastId;
      lastId = own;
    } else cache.set(body.toString('hex'), { status: up.status, headers, body: out });
    res.writeHead(up.status, headers).end(out);
  });
  const url = await listen(server);
  return { url, close: () => stop(server) };
}

/**
 * A man in the middle between client and verifier: GET answers pass through `rewrite` (the
 * parsed JSON of a receipt answer), everything else unchanged.
 */
export async function startVerifierMitm(
  target: string,
  rewrite: (answer: Record<string, unknown>) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    const up = await fetch(`${target}${req.url}`, { method: req.method });
    let text = await up.text();
    if (up.status === 200 && /^\/v1\/receipts\/[0-9a-f]{32}/.test(req.url ?? '')) {
      const json = JSON.parse(text) as Record<string, unknown>;
      rewrite(json);
      text = JSON.stringify(json);
    }
    res.writeHead(up.status, { 'content-type': 'application/json' }).end(text);
  });
  const url = await listen(server);
  return { url, close: () => stop(server) };
}
