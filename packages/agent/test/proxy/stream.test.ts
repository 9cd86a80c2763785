import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { agentFor, createHash, fakeUpstream } from '../fixtures/model.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const event = (i: number) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'served-model', choices: [{ index: 0, delta: { content: `tok${i} ` }, finish_reason: null }] })}\n\n`;
const usageEvent = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'served-model', choices: [], usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 } })}\n\n`;

describe('streamed answers (SSE)', () => {
  // The upstream writes one event, then waits until the test says go: the client must see the
  // first event while the upstream is still holding the rest, which proves nothing is buffered.
  let gate: (() => void) | undefined;
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  let agent: Awaited<ReturnType<typeof agentFor>>;

  before(async () => {
    up = await fakeUpstream(async (req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      if (req.url === '/gated') {
        res.write(event(0));
        await new Promise<void>((r) => {
          gate = r;
        });
        res.end(`${event(1)}data: [DONE]\n\n`);
        return;
      }
      if (req.url === '/endless') {
        for (let i = 0; !res.destroyed && i < 10_000; i++) {
          res.write(event(i));
          await new Promise((r) => setTimeout(r, 2));
        }
        res.end();
        return;
      }
      if (req.url === '/break') {
        res.write(event(0));
        await new Promise((r) => setTimeout(r, 10));
        res.socket?.destroy();
        return;
      }
      for (let i = 0; i < 3; i++) res.write(event(i));
      res.end(`${usageEvent}data: [DONE]\n\n`);
    });
    agent = await agentFor(up.url);
  });
  after(async () => {
    await agent.close();
    await up.close();
  });

  test('events are relayed as they arrive, before the upstream has finished', async () => {
    const u = new URL(agent.url);
    const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path: '/gated' });
    req.end('{"stream":true}');
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    const [first] = (await once(res, 'data')) as [Buffer];
    assert.equal(first.toString(), event(0), 'first event arrived while the upstream still held the rest');
    const rest: Buffer[] = [first];
    res.on('data', (c: Buffer) => rest.push(c));
    gate!();
    await once(res, 'end');
    const all = Buffer.concat(rest);
    assert.equal(all.toString(), `${event(0)}${event(1)}data: [DONE]\n\n`);
    const body = agent.store.byId(res.headers['tmb-receipt-id'] as string)!;
    const r = JSON.parse(Buffer.from(body.body).toString());
    assert.equal(r.response.sha256, sha(all), 'the receipt covers the whole byte stream');
    assert.equal(r.response.stream, true);
    assert.equal(r.outcome, 'complete');
  });

  test('the official openai client streams through the agent; usage and model are receipted', async () => {
    const client = new OpenAI({ baseURL: `${agent.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'big-model', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'tok0 tok1 tok2 ');
    const row = agent.store.byId(response.headers.get('tmb-receipt-id')!)!;
    const r = JSON.parse(Buffer.from(row.body).toString());
    assert.deepEqual(r.model, { requested: 'big-model', reported: 'served-model' });
    assert.deepEqual(r.usage, { prompt: 4, completion: 3, total: 7 });
  });

  test('a client leaving mid-stream aborts the upstream; the receipt records the truncated stream', async () => {
    const u = new URL(agent.url);
    const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path: '/endless' });
    req.end('{}');
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    const id = res.headers['tmb-receipt-id'] as string;
    let got = 0;
    for await (const c of res) {
      got += (c as Buffer).length;
      if (got > 2000) break; // leaving the loop destroys the response: the client is gone
    }
    req.destroy();
    const seen = up.seen.at(-1)!;
    for (let i = 0; i < 200 && (!seen.closedEarly || agent.store.byId(id) === undefined); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(seen.closedEarly, 'the upstream request was aborted');
    const row = agent.store.byId(id);
    assert.ok(row, 'the receipt was written');
    const r = JSON.parse(Buffer.from(row.body).toString());
    assert.equal(r.outcome, 'client_aborted');
    assert.ok(r.response.bytes >= got, 'covers at least what the client read');
    // The hash is of exactly the bytes sent: a prefix of the upstream's deterministic stream.
    let prefix = '';
    for (let i = 0; prefix.length < r.response.bytes; i++) prefix += event(i);
    assert.equal(r.response.sha256, sha(Buffer.from(prefix.slice(0, r.response.bytes))));
  });

  test('an upstream breaking mid-stream: the client sees a cut stream, the receipt says upstream_error', async () => {
    const u = new URL(agent.url);
    const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path: '/break' });
    req.end('{}');
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    const parts: Buffer[] = [];
    const ended = await new Promise<string>((resolve) => {
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve('end'));
      res.on('error', () => resolve('error'));
      res.on('aborted', () => resolve('aborted'));
    });
    assert.notEqual(ended, 'end', 'the cut is visible to the client');
    const row = agent.store.byId(res.headers['tmb-receipt-id'] as string)!;
    const r = JSON.parse(Buffer.from(row.body).toString());
    assert.equal(r.outcome, 'upstream_error');
    assert.equal(r.response.sha256, sha(Buffer.concat(parts)));
  });
});
