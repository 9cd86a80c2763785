import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import {
  agentTokens,
  call,
  enrolBody,
  newKey,
  READER_TOKEN,
  receiptBody,
  signBody,
  type TestKey,
  tokenFor,
} from '../fixtures.ts';

// Issue 12, item 4: the dashboard. Its page and files are public (they hold no data) and served
// under a strict CSP with ETags; every data route needs a token, and an agent token reads only
// its own agent (the reader/agent grant rules of GET /v1/agents).

let v: RunningVerifier;
let a: TestKey;
let b: TestKey;
const code = (r: { json: Record<string, unknown> }) => (r.json.error as { code: string } | undefined)?.code;

before(async () => {
  v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('agent-a', 'agent-b'),
    readerTokens: [READER_TOKEN],
    rateLimit: false,
  });
  a = newKey('agent-a');
  b = newKey('agent-b');
  for (const k of [a, b])
    assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
});
after(() => v.close());

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${v.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
const push = (k: TestKey) =>
  call(`${v.url}/v1/receipts`, 'POST', { agent: k.name, receipts: [signBody(k, receiptBody(k))] });

test('the page is public, under a CSP that allows nothing but this origin and no inline script', async () => {
  const res = await get('/dashboard');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const html = await res.text();
  // Every script is a file of this origin; no inline script, handler or style attribute.
  for (const m of html.matchAll(/<script\b([^>]*)>/g)) assert.match(m[1]!, /src="\/dashboard\/assets\//);
  assert.doesNotMatch(html, /\son[a-z]+=|\sstyle=|<style|https?:\/\//i);
  assert.equal((await get('/dashboard/')).status, 200);
});

test('the files are cacheable: an ETag, 304 when it matches, gzip when accepted', async () => {
  for (const name of ['dashboard.js', 'dashboard.css', 'uplot.js', 'uplot.css']) {
    const res = await get(`/dashboard/assets/${name}`);
    assert.equal(res.status, 200, name);
    const body = Buffer.from(await res.arrayBuffer());
    const etag = res.headers.get('etag')!;
    assert.match(etag, /^"[A-Za-z0-9_-]{22}"$/);
    assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
    const again = await get(`/dashboard/assets/${name}`, { 'if-none-match': etag });
    assert.equal(again.status, 304, name);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    // fetch would undo the gzip itself: ask with node's own header handling off, through raw bytes.
    const zipped = await rawGet(`/dashboard/assets/${name}`, { 'accept-encoding': 'gzip' });
    if (zipped.encoding === 'gzip') assert.deepEqual(gunzipSync(zipped.body), body, name);
  }
  const js = await get('/dashboard/assets/uplot.js');
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal((await get('/dashboard/assets/nope.js')).status, 404);
  assert.equal((await get('/dashboard/assets/../server.ts')).status, 404);
});

/** A GET through node:http, which leaves the body as sent (fetch decodes gzip). */
async function rawGet(path: string, headers: Record<string, string>) {
  const { request } = await import('node:http');
  return new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = request(`${v.url}${path}`, { headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('every data route refuses a request with no token, or a wrong one (401)', async () => {
  for (const path of [
    '/v1/dashboard/hosts',
    '/v1/dashboard/hosts/agent-a/telemetry',
    '/v1/dashboard/stream',
  ]) {
    for (const token of [null, 'not-a-token-of-this-verifier']) {
      const r = await call(`${v.url}${path}`, 'GET', undefined, token);
      assert.equal(r.status, 401, path);
      assert.equal(code(r), 'TOKEN_INVALID');
    }
  }
});

test("a reader token lists every host; an agent token only its own, and never another agent's telemetry", async () => {
  const reader = await call(`${v.url}/v1/dashboard/hosts`, 'GET', undefined, READER_TOKEN);
  assert.equal(reader.status, 200);
  const names = (r: typeof reader) => (r.json.hosts as { agent: string }[]).map((h) => h.agent);
  assert.deepEqual(names(reader), ['agent-a', 'agent-b']);
  const asA = await call(`${v.url}/v1/dashboard/hosts`, 'GET', undefined, tokenFor('agent-a'));
  assert.equal(asA.status, 200);
  assert.deepEqual(names(asA), ['agent-a']);
  const other = await call(
    `${v.url}/v1/dashboard/hosts/agent-b/telemetry`,
    'GET',
    undefined,
    tokenFor('agent-a'),
  );
  assert.equal(other.status, 403);
  assert.equal(code(other), 'TOKEN_AGENT_MISMATCH');
  const own = await call(
    `${v.url}/v1/dashboard/hosts/agent-a/telemetry`,
    'GET',
    undefined,
    tokenFor('agent-a'),
  );
  assert.equal(own.status, 200);
  const any = await call(`${v.url}/v1/dashboard/hosts/agent-b/telemetry`, 'GET', undefined, READER_TOKEN);
  assert.equal(any.status, 200);
  assert.deepEqual(any.json.samples, { t: [], powerW: [], utilGpu: [] });
  const bad = await call(
    `${v.url}/v1/dashboard/hosts/agent-b/telemetry?minutes=0`,
    'GET',
    undefined,
    READER_TOKEN,
  );
  assert.equal(bad.status, 400);
});

/** Reads NDJSON lines of an open stream until `until` holds of what was read (bounded by the signal). */
async function readUntil(
  res: Response,
  until: (events: Record<string, unknown>[]) => boolean,
): Promise<Record<string, unknown>[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: Record<string, unknown>[] = [];
  let rest = '';
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    const lines = rest.split('\n');
    rest = lines.pop()!;
    for (const l of lines) events.push(JSON.parse(l) as Record<string, unknown>);
  }
  await reader.cancel();
  return events;
}

const verdictsOf = (events: Record<string, unknown>[]) =>
  events
    .filter((e) => e.type === 'verdict')
    .map((e) => e.verdict as { agent: string; level: string; receiptId: string });

test("the stream sends each new receipt's verdict; an agent token hears only its own agent", async () => {
  const ctrl = new AbortController();
  const timeout = AbortSignal.any([ctrl.signal, AbortSignal.timeout(60_000)]);
  const open = (token: string) =>
    fetch(`${v.url}/v1/dashboard/stream`, { headers: { authorization: `Bearer ${token}` }, signal: timeout });
  const all = await open(READER_TOKEN);
  const mine = await open(tokenFor('agent-a'));
  assert.equal(all.status, 200);
  assert.match(all.headers.get('content-type') ?? '', /ndjson/);
  // b's first, then a's: the feed keeps their order, so a's stream has heard of b's by the time a's arrives.
  assert.equal((await push(b)).status, 200);
  assert.equal((await push(a)).status, 200);
  const seenAll = await readUntil(all, (e) => new Set(verdictsOf(e).map((x) => x.agent)).size === 2);
  const seenMine = await readUntil(mine, (e) => verdictsOf(e).some((x) => x.agent === 'agent-a'));
  ctrl.abort();
  assert.equal(seenAll[0]!.type, 'hello');
  assert.deepEqual(
    verdictsOf(seenAll)
      .map((x) => [x.agent, x.level])
      .slice(-2),
    [
      ['agent-b', 'L0'],
      ['agent-a', 'L0'],
    ],
  );
  assert.deepEqual(
    verdictsOf(seenMine).map((x) => x.agent),
    ['agent-a'],
  );
  // The hosts now carry those verdicts as their latest.
  const hosts = await call(`${v.url}/v1/dashboard/hosts`, 'GET', undefined, READER_TOKEN);
  const latest = (hosts.json.hosts as { agent: string; latest: { level: string } | null }[]).map((h) => [
    h.agent,
    h.latest?.level,
  ]);
  assert.deepEqual(latest, [
    ['agent-a', 'L0'],
    ['agent-b', 'L0'],
  ]);
});

test('at most 32 streams are open at once: the next is refused (429), and a closed one frees its place', async () => {
  const ctrl = new AbortController();
  const signal = AbortSignal.any([ctrl.signal, AbortSignal.timeout(60_000)]);
  const open = () =>
    fetch(`${v.url}/v1/dashboard/stream`, { headers: { authorization: `Bearer ${READER_TOKEN}` }, signal });
  const streams: Response[] = [];
  try {
    for (let i = 0; i < 32; i++) streams.push(await open());
    assert.deepEqual(new Set(streams.map((s) => s.status)), new Set([200]));
    const over = await open();
    assert.equal(over.status, 429);
    assert.equal(((await over.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    await streams.pop()!.body!.cancel();
    // The server sees the close a little later: wait for the place to come free, bounded.
    let again = await open();
    for (let i = 0; again.status === 429 && i < 200; i++) {
      await again.arrayBuffer();
      await new Promise((r) => setTimeout(r, 25));
      again = await open();
    }
    assert.equal(again.status, 200);
    streams.push(again);
  } finally {
    ctrl.abort();
  }
});
