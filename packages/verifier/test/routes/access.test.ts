import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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

// Issue 9, "Tokens and agent identity" and "Public reads": every token names one agent and acts
// for it only; listings of agents' keys and request ids need a token; receipts by id stay public.

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

test("regression: agent B's token cannot enrol, activate, quote, push or post telemetry or host logs for agent A (403)", async () => {
  const asB = tokenFor('agent-b');
  const bodies: [string, unknown][] = [
    ['/v1/agents/enroll', enrolBody(newKey('agent-a'))],
    ['/v1/attest/enroll', { agent: 'agent-a', ekPublic: 'AA', akPublic: 'AA', pcr: 15 }],
    ['/v1/attest/activate', { agent: 'agent-a', secret: 'AA' }],
    ['/v1/attest/nonce', { agent: 'agent-a' }],
    ['/v1/attest/evidence', { agent: 'agent-a', nonce: 'x', quote: {}, log: { from: 0, entries: '' } }],
    ['/v1/receipts', { agent: 'agent-a', receipts: [signBody(a, receiptBody(a))] }],
    ['/v1/telemetry', { agent: 'agent-a', batches: [] }],
    ['/v1/host/log', { agent: 'agent-a' }],
  ];
  for (const [path, body] of bodies) {
    const r = await call(`${v.url}${path}`, 'POST', body, asB);
    assert.equal(r.status, 403, path);
    assert.equal(code(r), 'TOKEN_AGENT_MISMATCH', path);
  }
});

test('a reader token writes nothing (403) and an unknown token is 401', async () => {
  const r = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-a', receipts: [] }, READER_TOKEN);
  assert.equal(r.status, 403);
  assert.equal(code(r), 'TOKEN_AGENT_MISMATCH');
  const e = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(newKey('agent-a')), READER_TOKEN);
  assert.equal(e.status, 403);
  const u = await call(`${v.url}/v1/agents`, 'GET', undefined, 'unknown-token-0123456789');
  assert.equal(u.status, 401);
});

test("A's receipts are stored and read regardless of what B pushes under A's name", async () => {
  const mine = receiptBody(a);
  // B signs a receipt naming agent A with its own key, and pushes it with its own token.
  const forged = signBody(b, receiptBody(b, { agent: 'agent-a', seq: mine.seq }));
  const byB = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-b', receipts: [forged] });
  assert.deepEqual(
    (byB.json.rejected as { code: string }[]).map((x) => x.code),
    ['RECEIPT_AGENT_MISMATCH'],
  );
  const ok = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-a', receipts: [signBody(a, mine)] });
  assert.deepEqual(ok.json, { accepted: 1, duplicate: 0, rejected: [] });
});

test('regression: GET /v1/agents needs a token; a reader sees every agent, an agent token its own only', async () => {
  const none = await call(`${v.url}/v1/agents`, 'GET', undefined, null);
  assert.equal(none.status, 401);
  assert.equal(code(none), 'TOKEN_INVALID');
  const names = (r: { json: Record<string, unknown> }) =>
    (r.json.agents as { agent: string }[]).map((x) => x.agent).sort();
  assert.deepEqual(names(await call(`${v.url}/v1/agents`, 'GET', undefined, READER_TOKEN)), [
    'agent-a',
    'agent-b',
  ]);
  assert.deepEqual(names(await call(`${v.url}/v1/agents`, 'GET', undefined, tokenFor('agent-a'))), [
    'agent-a',
  ]);
});

test('regression: GET /v1/requests/:id needs a token; an agent token sees its own agent receipts only', async () => {
  const req = { ...receiptBody(a).request, id: 'shared-request-id' };
  const ra = receiptBody(a, { request: req });
  const rb = receiptBody(b, { request: req });
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-a', receipts: [signBody(a, ra)] });
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-b', receipts: [signBody(b, rb)] });
  const path = `${v.url}/v1/requests/shared-request-id`;
  const none = await call(path, 'GET', undefined, null);
  assert.equal(none.status, 401);
  const ids = (r: { json: Record<string, unknown> }) =>
    (r.json.results as { verdict: { receiptId: string } }[]).map((x) => x.verdict.receiptId).sort();
  assert.deepEqual(ids(await call(path, 'GET', undefined, READER_TOKEN)), [ra.id, rb.id].sort());
  assert.deepEqual(ids(await call(path, 'GET', undefined, tokenFor('agent-a'))), [ra.id]);
});

test('receipts by id, the verifier key and health stay public', async () => {
  const body = receiptBody(a);
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'agent-a', receipts: [signBody(a, body)] });
  assert.equal((await call(`${v.url}/v1/receipts/${body.id}`, 'GET', undefined, null)).status, 200);
  assert.equal((await call(`${v.url}/v1/verifier-key`, 'GET', undefined, null)).status, 200);
  assert.equal((await call(`${v.url}/healthz`, 'GET', undefined, null)).status, 200);
});

test('public routes are rate limited per client address: 429 RATE_LIMITED with Retry-After, refilled by the clock', async () => {
  const clock = { now: 1_000_000 };
  const limited = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('agent-a'),
    rateLimit: { perSecond: 2, burst: 3 },
    now: () => clock.now,
  });
  try {
    const get = (path: string, token: string | null = null) =>
      fetch(`${limited.url}${path}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) assert.equal((await get('/healthz')).status, 200, `request ${i}`);
    const refused = await get(`/v1/receipts/${'0'.repeat(32)}`);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'RATE_LIMITED');
    // Unknown paths take from the same bucket; token routes do not.
    assert.equal((await get('/v1/nope')).status, 429);
    assert.equal((await get('/v1/agents', tokenFor('agent-a'))).status, 200);
    clock.now += 499; // 0.998 tokens: still empty
    assert.equal((await get('/healthz')).status, 429);
    clock.now += 1; // one token
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/healthz')).status, 429);
    clock.now += 60_000; // refilled to the burst, not past it
    for (let i = 0; i < 3; i++) assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/healthz')).status, 429);
  } finally {
    await limited.close();
  }
});
