// The upstream side of the proxy on undici's Pool (issue 12): a stream whose events arrive many to
// a read is relayed read by read, byte for byte; the connection bound holds; a request the client
// sent with `Expect: 100-continue` is still forwarded (undici refuses that header).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type IncomingMessage, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { agentFor, createHash, fakeUpstream } from '../fixtures/model.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const EVENTS = 2_000;
const event = (i: number) =>
  `data: {"model":"served-model","choices":[{"index":0,"delta":{"content":"t${i}"}}]}\n\n`;
const usage =
  'data: {"model":"served-model","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2000,"total_tokens":2002}}\n\n';

/** POSTs `body` to `url` + `path` and reads the whole answer. */
async function post(url: string, path: string, body: string, headers: Record<string, string> = {}) {
  const u = new URL(url);
  const req = request({ hostname: u.hostname, port: u.port, method: 'POST', path, headers });
  if (headers.expect === undefined) req.end(body);
  else req.once('continue', () => req.end(body));
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const parts: Buffer[] = [];
  for await (const c of res) parts.push(c as Buffer);
  return { res, body: Buffer.concat(parts) };
}

describe('proxy: upstream pool', () => {
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  let connections = 0;

  before(async () => {
    up = await fakeUpstream((req, _body, res) => {
      if (req.url === '/burst') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // Written in one go: the agent reads many events (HTTP chunks) per socket read.
        for (let i = 0; i < EVENTS; i++) res.write(event(i));
        res.end(`${usage}data: [DONE]\n\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"model":"served-model","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}');
    });
    up.server.on('connection', () => connections++);
  });
  after(() => up.close());

  test('a burst of events is relayed byte for byte and the receipt covers the whole stream', async (t) => {
    const agent = await agentFor(up.url);
    t.after(() => agent.close());
    const { res, body } = await post(agent.url, '/burst', '{"model":"big","stream":true}');
    let expected = '';
    for (let i = 0; i < EVENTS; i++) expected += event(i);
    expected += `${usage}data: [DONE]\n\n`;
    assert.equal(body.toString(), expected);
    const row = agent.store.byId(res.headers['tmb-receipt-id'] as string)!;
    const r = JSON.parse(Buffer.from(row.body).toString());
    assert.equal(r.response.sha256, sha(body));
    assert.equal(r.response.bytes, body.length);
    assert.equal(r.outcome, 'complete');
    assert.deepEqual(r.model, { requested: 'big', reported: 'served-model' });
    assert.deepEqual(r.usage, { prompt: 2, completion: 2000, total: 2002 });
  });

  test('upstreamConnections bounds the connections to the model server; requests past it wait', async (t) => {
    const agent = await agentFor(up.url, { upstreamConnections: 1 });
    t.after(() => agent.close());
    const before = connections;
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(agent.url, '/', '{"model":"m"}')));
    for (const a of answers) assert.equal(a.res.statusCode, 200);
    assert.equal(connections - before, 1, 'one connection carried all eight requests');
  });

  test('a request sent with Expect: 100-continue is forwarded, body and all, without the header', async (t) => {
    const agent = await agentFor(up.url);
    t.after(() => agent.close());
    const { res } = await post(agent.url, '/', '{"model":"m"}', {
      expect: '100-continue',
      'content-type': 'application/json',
    });
    assert.equal(res.statusCode, 200);
    const seen = up.seen.at(-1)!;
    assert.equal(seen.body.toString(), '{"model":"m"}');
    assert.equal(seen.headers.expect, undefined);
  });
});
