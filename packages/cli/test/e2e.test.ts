// End to end on real parts: the sample-free path of issue 2. A stand-in model server (a stub: the
// product does not own model servers), the real agent, the real verifier, and the official openai
// client through the SDK's verified fetch.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type RunningAgent, startAgent } from '@tmb/agent';
import { createVerifiedFetch } from '@tmb/client';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import { closers } from '../../../test/fixtures/cleanup.ts';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

async function listen(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('openai client -> agent -> stand-in model server; verifier; SDK checks', () => {
  let dir: string;
  let upstream: Awaited<ReturnType<typeof listen>>;
  let verifier: RunningVerifier;
  let agent: RunningAgent;
  const silent = () => {};
  // Stops run last-started first, then the folder goes (test/fixtures/cleanup.ts).
  const c = closers(after);

  before(async () => {
    dir = await c.dir('tmb-e2e-');
    upstream = await listen(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(parts).toString() || '{}') as {
        stream?: boolean;
        model?: string;
      };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const word of ['one', 'two', 'three']) {
          res.write(
            `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta: { content: `${word} ` }, finish_reason: null }] })}\n\n`,
          );
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: 'four five' },
              finish_reason: 'stop',
              logprobs: null,
            },
          ],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        }),
      );
    });
    c.add(() => {
      upstream.server.closeAllConnections();
      upstream.server.close();
    }, 'model server');
    verifier = await startVerifier({
      dbPath: join(dir, 'verifier.db'),
      tokens: [{ token: 'agent-token-0123456789', agent: 'gpu-01' }],
    });
    c.add(() => verifier.close(), 'verifier');
    agent = await startAgent(
      {
        upstream: upstream.url,
        dataDir: join(dir, 'agent'),
        name: 'gpu-01',
        verifier: { url: verifier.url, token: 'agent-token-0123456789' },
      },
      silent,
    );
    c.add(() => agent.close(), 'agent');
  });

  test('non-streamed and streamed chat completions verify at L0 with byte-exact hashes', async () => {
    const verifierKey = (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey;
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey });
    const openai = new OpenAI({
      baseURL: `${agent.url}/v1`,
      apiKey: 'sk-none',
      fetch: tmb.fetch,
      maxRetries: 0,
    });
    const plain = await openai.chat.completions
      .create({ model: 'big-70b', messages: [{ role: 'user', content: 'count' }] })
      .withResponse();
    assert.equal(plain.data.choices[0]!.message.content, 'four five');
    const r1 = await tmb.verify(plain.response);
    assert.equal(r1.ok, true, JSON.stringify(r1.checks));
    assert.equal(r1.level, 'L0');
    assert.equal(r1.body?.model.requested, 'big-70b');
    // Hashes recomputed here, independently of the product: what the client sent, what it got.
    const expectedReq = JSON.stringify({ model: 'big-70b', messages: [{ role: 'user', content: 'count' }] });
    assert.equal(r1.body?.request.sha256, sha(expectedReq));

    const streamed = await openai.chat.completions
      .create({ model: 'big-70b', stream: true, messages: [{ role: 'user', content: 'count' }] })
      .withResponse();
    let text = '';
    for await (const c of streamed.data) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'one two three ');
    const r2 = await tmb.verify(streamed.response);
    assert.equal(r2.ok, true, JSON.stringify(r2.checks));
    assert.equal(r2.level, 'L0');
    assert.equal(r2.body?.response.stream, true);
  });

  test('an answer altered after the agent fails the client hash check, named as such', async () => {
    // A man in the middle between the agent and the client changes one byte of every answer.
    const mitm = await listen(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      const r = await fetch(agent.url + req.url, {
        method: req.method,
        // A router passes the client's nonce on; only the answer's bytes are changed.
        headers: {
          'content-type': 'application/json',
          'tmb-client-nonce': String(req.headers['tmb-client-nonce']),
        },
        body: Buffer.concat(parts),
      });
      const bytes = Buffer.from(await r.arrayBuffer());
      bytes[bytes.indexOf('four')] = 0x46; // "four" -> "Four"
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
      });
      res.writeHead(r.status, headers);
      res.end(bytes);
    });
    try {
      const verifierKey = (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey;
      const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey });
      const openai = new OpenAI({
        baseURL: `${mitm.url}/v1`,
        apiKey: 'sk-none',
        fetch: tmb.fetch,
        maxRetries: 0,
      });
      const { data, response } = await openai.chat.completions
        .create({ model: 'big-70b', messages: [] })
        .withResponse();
      assert.equal(data.choices[0]!.message.content, 'Four five');
      const result = await tmb.verify(response);
      assert.equal(result.ok, false);
      const failed = result.checks.filter((c) => c.status === 'fail');
      assert.deepEqual(
        failed.map((c) => c.code),
        ['RESPONSE_HASH_MISMATCH'],
      );
    } finally {
      mitm.server.closeAllConnections();
      mitm.server.close();
    }
  });

  test('the verifier serves the receipt by request id too', async () => {
    const res = await fetch(`${agent.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'router-abc' },
      body: '{"model":"big-70b"}',
    });
    await res.arrayBuffer();
    await agent.flush();
    // Request ids are listed to token holders only: the agent's own token reads its receipts.
    const byReq = (await (
      await fetch(`${verifier.url}/v1/requests/router-abc`, {
        headers: { authorization: 'Bearer agent-token-0123456789' },
      })
    ).json()) as {
      results: { verdict: { level: string; ok: boolean } }[];
    };
    assert.equal(byReq.results.length, 1);
    assert.equal(byReq.results[0]!.verdict.level, 'L0');
  });
});
