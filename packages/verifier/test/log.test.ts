import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, type RunningVerifier, type Store, startVerifier } from '../src/index.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import {
  agentTokens,
  call,
  enrolBody,
  newKey,
  READER_TOKEN,
  receiptBody,
  signBody,
  TOKEN,
} from './fixtures.ts';

// Issue 10: structured JSON logs, one line per event, with a request id per HTTP request and no
// secrets. The stream is captured through the logger's sink.

type Line = Record<string, unknown> & { event: string; level: string };

function capture(level: 'debug' | 'info' = 'info') {
  const text: string[] = [];
  const logger = createLogger({ level, sink: { write: (l) => text.push(l) } });
  const lines = () =>
    text.map((l) => {
      assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'), 'one line per event');
      return JSON.parse(l) as Line;
    });
  return { logger, text, lines, events: (name: string) => lines().filter((l) => l.event === name) };
}

test('logger: levels filter, child fields ride along, secret-named fields never appear', () => {
  const c = capture('info');
  c.logger.debug('hidden', {});
  const child = c.logger.child({ requestId: 'r-1' });
  child.warn('seen', {
    agent: 'a',
    token: 'tok-SECRET',
    nonce: 'n-SECRET',
    Authorization: 'x',
    keyId: 'kid',
  });
  const lines = c.lines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.event, 'seen');
  assert.equal(lines[0]!.level, 'warn');
  assert.equal(lines[0]!.requestId, 'r-1');
  assert.equal(lines[0]!.keyId, 'kid');
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
  assert.doesNotMatch(c.text.join(''), /SECRET|Authorization/);
  const silent = capture('info');
  createLogger({ level: 'silent', sink: { write: () => assert.fail('silent wrote') } }).error('x');
  assert.equal(silent.text.length, 0);
});

async function withVerifier(
  t: { after(fn: () => unknown): void },
  logger: ReturnType<typeof createLogger>,
  extra: Partial<Parameters<typeof startVerifier>[0]> = {},
): Promise<RunningVerifier> {
  const v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1'),
    readerTokens: [READER_TOKEN],
    logger,
    ...extra,
  });
  t.after(() => v.close());
  return v;
}

test('start, enrolment, auth failure, rate limit and stop are logged; request ids are echoed', async (t) => {
  const c = capture('info');
  const v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1'),
    logger: c.logger,
    rateLimit: { perSecond: 0.001, burst: 1 },
  });
  let closed = false;
  t.after(() => (closed ? undefined : v.close()));
  const started = c.events('verifier_started');
  assert.equal(started.length, 1);
  assert.equal(started[0]!.url, v.url);
  assert.equal(typeof started[0]!.keyId, 'string');
  assert.equal(c.events('result_key_ephemeral').length, 1, 'a key made at start is warned about');
  assert.equal(c.events('store_migrated').length > 0, true);

  const k = newKey('gpu-1');
  const res = await fetch(`${v.url}/v1/agents/enroll`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'x-request-id': 'lb-42.a:b',
    },
    body: JSON.stringify(enrolBody(k)),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-request-id'), 'lb-42.a:b', 'a safe request id is echoed');
  const enrolled = c.events('agent_key_enrolled');
  assert.equal(enrolled.length, 1);
  assert.equal(enrolled[0]!.agent, 'gpu-1');
  assert.equal(enrolled[0]!.requestId, 'lb-42.a:b');

  const bad = await fetch(`${v.url}/v1/agents/enroll`, {
    method: 'POST',
    headers: { authorization: 'Bearer wrong-SECRET-token-0123456789', 'x-request-id': 'bad id "x":1' },
    body: '{}',
  });
  assert.equal(bad.status, 401);
  const generated = bad.headers.get('x-request-id') ?? '';
  assert.match(generated, /^[0-9a-f-]{36}$/, 'an unsafe request id is replaced by a generated one');
  const auth = c.events('auth_failed');
  assert.equal(auth.length, 1);
  assert.equal(auth[0]!.code, 'TOKEN_INVALID');
  assert.equal(auth[0]!.requestId, generated);
  assert.equal(auth[0]!.route, '/v1/agents/enroll');

  // Public route: the bucket holds one request.
  await fetch(`${v.url}/v1/verifier-key`);
  const limited = await fetch(`${v.url}/v1/verifier-key`);
  assert.equal(limited.status, 429);
  assert.equal(c.events('rate_limited').length, 1);

  await v.close();
  closed = true;
  assert.deepEqual(
    c
      .lines()
      .slice(-2)
      .map((l) => l.event),
    ['verifier_stopping', 'verifier_stopped'],
  );
  const all = c.text.join('');
  assert.doesNotMatch(all, /SECRET|test-token|proof/, 'no token or enrolment proof in the log');
  assert.doesNotMatch(all, new RegExp(enrolBody(k).proof), 'no enrolment proof');
});

test('receipt pushes log refusals with their codes (warn), accepted ones at debug only', async (t) => {
  const c = capture('debug');
  const v = await withVerifier(t, c.logger);
  const k = newKey('gpu-1');
  await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  const good = receiptBody(k);
  const other = receiptBody(k);
  other.agent = 'gpu-2';
  await call(`${v.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, good), signBody(k, other)],
  });
  const pushed = c.events('receipts_pushed');
  assert.equal(pushed.length, 1);
  assert.equal(pushed[0]!.level, 'warn');
  assert.equal(pushed[0]!.accepted, 1);
  assert.equal(pushed[0]!.rejected, 1);
  assert.deepEqual(pushed[0]!.codes, ['RECEIPT_AGENT_MISMATCH']);
  const requests = c.events('request').filter((l) => l.route === '/v1/receipts');
  assert.equal(requests.length, 1);
  assert.equal(requests[0]!.status, 200);
});

test('a store error is logged at error with its cause, the client gets 500 STORE_FAILED', async (t) => {
  const c = capture('info');
  const inner = new SqliteStore(':memory:');
  t.after(() => inner.close());
  const failing = async () => {
    throw Object.assign(new Error('disk I/O error'), { code: 'ERR_SQLITE_ERROR' });
  };
  const store = new Proxy(inner, {
    get: (target, p) => {
      if (p === 'getReceipt') return failing;
      const v = Reflect.get(target, p);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Store;
  const v = await withVerifier(t, c.logger, { store });
  const r = await call(`${v.url}/v1/receipts/${'ab'.repeat(16)}`, 'GET', undefined, null);
  assert.equal(r.status, 500);
  const failed = c.events('store_failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.level, 'error');
  assert.match(String(failed[0]!.cause), /ERR_SQLITE_ERROR: disk I\/O error/);
});
