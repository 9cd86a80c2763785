import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { checkSignedReceipt, decodeReceiptBody, toSignedReceipt } from '@tmb/core';
import OpenAI from 'openai';
import { agentFor, createHash, fakeUpstream } from '../fixtures/model.ts';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** A raw HTTP exchange, so the test sees exact bytes and every header. */
function raw(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ hostname: u.hostname, port: u.port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the agent proxies exchanges unchanged and receipts them', () => {
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  let agent: Awaited<ReturnType<typeof agentFor>>;

  before(async () => {
    up = await fakeUpstream((req, body, res) => {
      if (req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        res.end(
          JSON.stringify({
            object: 'list',
            data: [{ id: 'm1', object: 'model', created: 0, owned_by: 'test' }],
          }),
        );
        return;
      }
      if (req.url?.startsWith('/teapot')) {
        res.writeHead(418, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
        res.end(`short and stout ${req.method}`);
        return;
      }
      if (req.url === '/v1/embeddings') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            object: 'list',
            model: 'emb-1',
            data: [{ object: 'embedding', index: 0, embedding: [0.25, -0.5] }],
            usage: { prompt_tokens: 2, total_tokens: 2 },
          }),
        );
        return;
      }
      // chat/completions: echo a deterministic answer naming the body's hash
      const parsed = (() => {
        try {
          return JSON.parse(body.toString()) as { model?: string };
        } catch {
          return undefined;
        }
      })();
      if (parsed === undefined) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${sha(body).slice(0, 8)}`,
          object: 'chat.completion',
          created: 1,
          model: 'served-model',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: 'hello' },
              finish_reason: 'stop',
              logprobs: null,
            },
          ],
          usage: { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8 },
        }),
      );
    });
    agent = await agentFor(up.url);
  });
  after(async () => {
    await agent.close();
    await up.close();
  });

  const stored = (id: string) => {
    const row = agent.store.byId(id);
    assert.ok(row, `receipt ${id} is stored`);
    const check = checkSignedReceipt(toSignedReceipt(row.body, row.sig), (k) =>
      k === agent.keyId ? agent.publicKey : undefined,
    );
    assert.deepEqual(
      check.checks.map((c) => [c.name, c.status]),
      [
        ['receipt.format', 'pass'],
        ['receipt.signature', 'pass'],
      ],
    );
    return check.body!;
  };

  test('a chat completion: body bytes, status and headers pass through; the receipt binds both hashes', async () => {
    const reqBody = Buffer.from('{"model":"gpt-x", "messages":[{"role":"user","content":"hi"}]}');
    const r = await raw(
      agent.url,
      'POST',
      '/v1/chat/completions',
      {
        'content-type': 'application/json',
        'x-request-id': 'router-req-42',
        'x-custom': 'kept',
      },
      reqBody,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-request-id'], 'router-req-42');
    const seen = up.seen.at(-1)!;
    assert.deepEqual(seen.body, reqBody, 'upstream got the exact bytes');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['x-request-id'], 'router-req-42');
    const body = stored(r.headers['tmb-receipt-id'] as string);
    assert.equal(body.request.id, 'router-req-42');
    assert.equal(body.request.sha256, sha(reqBody));
    assert.equal(body.request.bytes, reqBody.length);
    assert.equal(body.response.sha256, sha(r.body));
    assert.equal(body.response.bytes, r.body.length);
    assert.equal(body.response.status, 200);
    assert.equal(body.response.upstreamStatus, 200);
    assert.equal(body.response.stream, false);
    assert.deepEqual(body.model, { requested: 'gpt-x', reported: 'served-model' });
    assert.deepEqual(body.usage, { prompt: 7, completion: 1, total: 8 });
    assert.equal(body.outcome, 'complete');
    assert.equal(body.request.path, '/v1/chat/completions');
    assert.ok(body.time.start <= body.time.firstByte! && body.time.firstByte! <= body.time.end);
  });

  test('a missing x-request-id is assigned, sent upstream and returned', async () => {
    const r = await raw(
      agent.url,
      'POST',
      '/v1/chat/completions',
      { 'content-type': 'application/json' },
      Buffer.from('{}'),
    );
    const assigned = r.headers['x-request-id'] as string;
    assert.match(assigned, /^[0-9a-f-]{36}$/);
    assert.equal(up.seen.at(-1)!.headers['x-request-id'], assigned);
    assert.equal(stored(r.headers['tmb-receipt-id'] as string).request.id, assigned);
  });

  test('receipt ids are 128-bit random and distinct', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await raw(agent.url, 'GET', '/v1/models', {});
      ids.add(r.headers['tmb-receipt-id'] as string);
    }
    assert.equal(ids.size, 20);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });

  test('a malformed client body is forwarded unchanged and still receipted', async () => {
    const bad = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x00, 0x2c]);
    const r = await raw(
      agent.url,
      'POST',
      '/v1/chat/completions',
      { 'content-type': 'application/json' },
      bad,
    );
    assert.equal(r.status, 400, 'the upstream, not the agent, judged it');
    assert.deepEqual(up.seen.at(-1)!.body, bad);
    const body = stored(r.headers['tmb-receipt-id'] as string);
    assert.equal(body.request.sha256, sha(bad));
    assert.equal(body.model.requested, null);
    assert.equal(body.response.upstreamStatus, 400);
    assert.equal(body.outcome, 'complete');
  });

  test('any other path and method passes through with its status, headers and body', async () => {
    const r = await raw(
      agent.url,
      'PUT',
      '/teapot?x=1&y=%20',
      { 'content-type': 'text/plain' },
      Buffer.from('tea'),
    );
    assert.equal(r.status, 418);
    assert.equal(r.body.toString(), 'short and stout PUT');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(up.seen.at(-1)!.url, '/teapot?x=1&y=%20');
    const body = stored(r.headers['tmb-receipt-id'] as string);
    assert.equal(body.request.method, 'PUT');
    assert.equal(body.request.path, '/teapot?x=1&y=%20');
    assert.equal(body.response.status, 418);
  });

  test('hop-by-hop headers are not forwarded; end-to-end ones are', async () => {
    await raw(agent.url, 'GET', '/v1/models', {
      connection: 'keep-alive, x-hop',
      'x-hop': 'drop me',
      te: 'trailers',
      'x-end': 'keep me',
    });
    const h = up.seen.at(-1)!.headers;
    assert.equal(h['x-hop'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['x-end'], 'keep me');
  });

  test('the official openai client works through the agent: chat, models, embeddings', async () => {
    const client = new OpenAI({ baseURL: `${agent.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const { data: chat, response } = await client.chat.completions
      .create({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(chat.choices[0]!.message.content, 'hello');
    const receiptId = response.headers.get('tmb-receipt-id')!;
    assert.equal(stored(receiptId).model.requested, 'gpt-x');
    const models = await client.models.list();
    assert.equal(models.data[0]!.id, 'm1');
    const emb = await client.embeddings.create({ model: 'emb-1', input: 'x', encoding_format: 'float' });
    assert.deepEqual(emb.data[0]!.embedding, [0.25, -0.5]);
  });

  test('the agent serves its own copy of a receipt under /.well-known/tmb/', async () => {
    const r = await raw(agent.url, 'GET', '/v1/models', {});
    const id = r.headers['tmb-receipt-id'] as string;
    const w = await raw(agent.url, 'GET', `/.well-known/tmb/receipts/${id}`, {});
    assert.equal(w.status, 200);
    const got = JSON.parse(w.body.toString()) as { receipt: { body: string; sig: string } };
    const body = decodeReceiptBody(Buffer.from(got.receipt.body, 'base64url'));
    assert.equal(body.id, id);
    const missing = await raw(agent.url, 'GET', `/.well-known/tmb/receipts/${'0'.repeat(32)}`, {});
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).error.code, 'RECEIPT_NOT_FOUND');
  });

  test('sequence numbers are dense in arrival order', async () => {
    const before = agent.store.nextSeq();
    await Promise.all(Array.from({ length: 30 }, () => raw(agent.url, 'GET', '/v1/models', {})));
    assert.equal(agent.store.nextSeq(), before + 30);
  });
});
