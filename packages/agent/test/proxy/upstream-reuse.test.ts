// Kept-alive connections to the model server (issue 10, soak bench: under 1,000 concurrent streams,
// bunches of exchanges got 502 `upstream_unreachable` while the same load sent straight to the model
// server got none, and the agent logged nothing). The agent's pool reused sockets the server had
// closed while idle; Node's client retries nothing. Each upstream here is driven by events: it resets
// a connection exactly when the agent reuses it, so no timing decides the outcome.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { ReceiptBody } from '@tmb/core';
import { agentFor } from '../fixtures/model.ts';

type Agent = Awaited<ReturnType<typeof agentFor>>;

/**
 * A model server answering an SSE stream; `onReuse` decides what happens to a request that arrives
 * on a connection that already carried one (`reset`: the connection is reset unanswered, as a
 * server that closed it idle; `cut`: the answer starts, then the connection is reset).
 */
async function upstream(onReuse: 'reset' | 'cut' | 'answer', resetFirst = false) {
  const perSocket = new WeakMap<Socket, number>();
  const sockets: Socket[] = [];
  const stats = { requests: 0, answered: 0, resets: 0 };
  const cuts: (() => void)[] = [];
  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    stats.requests++;
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    req.on('end', () => {
      if ((n > 1 && onReuse === 'reset') || (n === 1 && resetFirst)) {
        stats.resets++;
        req.socket.resetAndDestroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"model":"m1","choices":[{"delta":{"content":"hi"}}]}\n\n');
      if (n > 1 && onReuse === 'cut') {
        // Reset once the client holds the first event (so the agent has read and forwarded it).
        cuts.push(() => {
          stats.resets++;
          req.socket.resetAndDestroy();
        });
        return;
      }
      stats.answered++;
      res.end('data: [DONE]\n\n');
    });
  });
  server.on('connection', (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    sockets,
    /** Resets the connections of `cut` answers started so far. */
    cut: () => {
      for (const c of cuts.splice(0)) c();
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One streamed chat request through the agent: status, receipt id, body, and whether it ended cleanly. */
function chat(
  url: string,
  onData: () => void = () => {},
): Promise<{ status: number; receiptId: string; body: string; cut: boolean }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        hostname: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const parts: Buffer[] = [];
        let cut = false;
        res.on('data', (c: Buffer) => {
          parts.push(c);
          onData();
        });
        res.on('aborted', () => {
          cut = true;
        });
        res.on('error', () => {
          cut = true;
        });
        res.on('close', () =>
          resolve({
            status: res.statusCode!,
            receiptId: res.headers['tmb-receipt-id'] as string,
            body: Buffer.concat(parts).toString(),
            cut: cut || !res.complete,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end('{"model":"m1","stream":true,"messages":[]}');
  });
}

/** The stored receipt body of `id`, waiting (bounded) for a receipt committed after the client left. */
async function receipt(agent: Agent, id: string): Promise<ReceiptBody> {
  for (let i = 0; i < 200; i++) {
    const row = agent.store.byId(id);
    if (row) return JSON.parse(Buffer.from(row.body).toString('utf8')) as ReceiptBody;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`receipt ${id} never stored`);
}

const events = (agent: Agent, name: string) => agent.logs.filter((l) => l.event === name);

describe('proxy: kept-alive upstream connections', () => {
  test('a reused connection the model server resets unanswered is retried once on a new one: 200, complete', async (t) => {
    const up = await upstream('reset');
    const agent = await agentFor(up.url);
    t.after(async () => {
      await agent.close();
      await up.close();
    });
    const first = await chat(agent.url);
    assert.equal(first.status, 200);
    assert.equal(up.sockets.length, 1);
    // The second exchange reuses the kept-alive socket; the server resets it on arrival.
    const second = await chat(agent.url);
    assert.equal(second.status, 200, second.body);
    assert.equal(second.cut, false);
    assert.match(second.body, /\[DONE\]/);
    assert.deepEqual(up.stats, { requests: 3, answered: 2, resets: 1 });
    assert.equal(up.sockets.length, 2, 'the retry went out on a new connection');
    const body = await receipt(agent, second.receiptId);
    assert.equal(body.outcome, 'complete');
    assert.equal(body.response.upstreamStatus, 200);
    assert.deepEqual(events(agent, 'upstream_error'), [], 'a recovered exchange is no error');
    const retried = events(agent, 'upstream_retried');
    assert.equal(retried.length, 1);
    assert.equal(retried[0]!.detail.receiptId, second.receiptId);
    assert.equal(retried[0]!.detail.code, 'ECONNRESET');
  });

  test('a reset on a new connection is not retried: 502, receipt upstream_error, one upstream_error event', async (t) => {
    const up = await upstream('answer', true);
    const agent = await agentFor(up.url);
    t.after(async () => {
      await agent.close();
      await up.close();
    });
    const r = await chat(agent.url);
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.body).error.code, 'upstream_unreachable');
    assert.deepEqual(up.stats, { requests: 1, answered: 0, resets: 1 }, 'sent once');
    assert.equal((await receipt(agent, r.receiptId)).outcome, 'upstream_error');
    const logged = events(agent, 'upstream_error');
    assert.equal(logged.length, 1);
    const d = logged[0]!.detail;
    assert.equal(d.receiptId, r.receiptId);
    assert.equal(d.outcome, 'upstream_error');
    assert.equal(d.code, 'ECONNRESET');
    assert.equal(d.stage, 'request');
    assert.equal(d.reusedSocket, false);
    assert.equal(d.retried, false);
    assert.equal(typeof d.error, 'string');
  });

  test('a reused connection reset after the answer started is never retried: the stream is cut', async (t) => {
    const up = await upstream('cut');
    const agent = await agentFor(up.url);
    t.after(async () => {
      await agent.close();
      await up.close();
    });
    assert.equal((await chat(agent.url)).status, 200);
    const r = await chat(agent.url, () => up.cut());
    assert.equal(r.status, 200);
    assert.equal(r.cut, true);
    assert.deepEqual(up.stats, { requests: 2, answered: 1, resets: 1 }, 'not sent again');
    assert.equal((await receipt(agent, r.receiptId)).outcome, 'upstream_error');
    const logged = events(agent, 'upstream_error');
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.detail.stage, 'response');
    assert.equal(logged[0]!.detail.reusedSocket, true);
  });

  test('an idle kept-alive connection is closed by the agent before the server would close it', async (t) => {
    // The server keeps idle connections 60 s (and says so: Keep-Alive: timeout=60); the agent's pool
    // lets one wait at most a few seconds, so it never reuses a connection near the server's deadline.
    const up = await upstream('answer');
    const agent = await agentFor(up.url);
    t.after(async () => {
      await agent.close();
      await up.close();
    });
    assert.equal((await chat(agent.url)).status, 200);
    const socket = up.sockets[0]!;
    const closed = await new Promise<boolean>((resolve) => {
      const bound = setTimeout(() => resolve(false), 30_000);
      socket.once('end', () => {
        clearTimeout(bound);
        resolve(true);
      });
    });
    assert.ok(closed, 'the agent closed its idle connection (FIN from the agent side)');
  });
});
