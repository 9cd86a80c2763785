import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { closers } from '../../../test/fixtures/cleanup.ts';
import { agentFor, createHash, fakeUpstream } from './fixtures/model.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function receiptOf(agent: Awaited<ReturnType<typeof agentFor>>, res: Response) {
  const row = agent.store.byId(res.headers.get('tmb-receipt-id')!);
  assert.ok(row, 'a receipt records the outcome');
  return JSON.parse(Buffer.from(row.body).toString());
}

describe('faults get clear answers and receipts', () => {
  // Every test's agent and model server stop at the suite's end (test/fixtures/cleanup.ts).
  const c = closers(after);

  test('upstream refusing connections: 502 in OpenAI error shape, receipt upstream_error', async () => {
    const agent = await agentFor(`http://127.0.0.1:${await deadPort()}`);
    c.add(agent.close, 'agent');
    const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
    assert.equal(res.status, 502);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const err = JSON.parse(Buffer.from(bytes).toString());
    assert.equal(err.error.type, 'upstream_error');
    assert.equal(err.error.code, 'upstream_unreachable');
    assert.equal(typeof err.error.message, 'string');
    const r = receiptOf(agent, res);
    assert.equal(r.outcome, 'upstream_error');
    assert.equal(r.response.status, 502);
    assert.equal(r.response.upstreamStatus, null);
    assert.equal(r.response.sha256, sha(bytes));
    assert.equal(r.model.requested, 'm');
  });

  test('upstream not answering in time: 504, receipt upstream_timeout', async () => {
    const up = await fakeUpstream(() => {
      /* never answers */
    });
    const agent = await agentFor(up.url, { upstreamTimeoutMs: 200 });
    c.add(up.close, 'model server');
    c.add(agent.close, 'agent');
    const res = await fetch(`${agent.url}/v1/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 504);
    assert.equal((await res.json()).error.code, 'upstream_timeout');
    assert.equal(receiptOf(agent, res).outcome, 'upstream_timeout');
  });

  test('a body over the limit: 413, nothing forwarded, receipt rejected_too_large', async () => {
    const up = await fakeUpstream((_q, _b, res) => res.end('x'));
    const agent = await agentFor(up.url, { maxBodyBytes: 1024 });
    c.add(up.close, 'model server');
    c.add(agent.close, 'agent');
    const declared = await fetch(`${agent.url}/v1/chat/completions`, {
      method: 'POST',
      body: 'a'.repeat(5000),
    });
    assert.equal(declared.status, 413);
    assert.equal((await declared.json()).error.code, 'request_too_large');
    assert.equal(receiptOf(agent, declared).outcome, 'rejected_too_large');
    // Chunked, so the size is only known while reading.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(512).fill(97));
        c.close();
      },
    });
    const chunked = await fetch(`${agent.url}/v1/chat/completions`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
    const r = receiptOf(agent, chunked);
    assert.equal(r.outcome, 'rejected_too_large');
    assert.ok(r.request.bytes <= 1024);
    assert.equal(up.seen.length, 0, 'nothing reached the upstream');
    // A body exactly at the limit is forwarded.
    const ok = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: 'a'.repeat(1024) });
    assert.equal(ok.status, 200);
    assert.equal(up.seen.length, 1);
  });

  test('upstream 5xx answers pass through as they are (the agent only adds its headers)', async () => {
    const up = await fakeUpstream((_q, _b, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '3' });
      res.end('{"error":{"message":"overloaded"}}');
    });
    const agent = await agentFor(up.url);
    c.add(up.close, 'model server');
    c.add(agent.close, 'agent');
    const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '3');
    assert.equal(await res.text(), '{"error":{"message":"overloaded"}}');
    const r = receiptOf(agent, res);
    assert.equal(r.response.upstreamStatus, 503);
    assert.equal(r.outcome, 'complete');
  });
});
