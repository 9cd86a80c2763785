import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RunningVerifier, startVerifier, type VerifierOptions } from '../src/index.ts';
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
import { parseMetrics, scrape } from './prom.ts';

// Issue 10: GET /metrics in the Prometheus text format, behind a reader token unless the
// operator made it public. The test scrapes and parses the text.

async function start(t: { after(fn: () => unknown): void }, extra: Partial<VerifierOptions> = {}) {
  const v: RunningVerifier = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1'),
    readerTokens: [READER_TOKEN],
    ...extra,
  });
  t.after(() => v.close());
  return v;
}

test('/metrics needs a reader token: 401 without, 403 with an agent token, 200 text with a reader token', async (t) => {
  const v = await start(t);
  assert.equal((await scrape(v.url, null)).status, 401);
  const agent = await scrape(v.url, TOKEN);
  assert.equal(agent.status, 403);
  assert.equal(((await agent.json()) as { error: { code: string } }).error.code, 'TOKEN_AGENT_MISMATCH');
  const ok = await scrape(v.url, READER_TOKEN);
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const m = parseMetrics(await ok.text());
  assert.equal(m.get('tmb_verifier_auth_failures_total{code="TOKEN_INVALID"}'), 1);
  assert.equal(m.get('tmb_verifier_auth_failures_total{code="TOKEN_AGENT_MISMATCH"}'), 1);
});

test('--metrics-public: /metrics with no token, rate-limited like the public reads', async (t) => {
  const v = await start(t, { metricsPublic: true, rateLimit: { perSecond: 0.001, burst: 2 } });
  assert.equal((await scrape(v.url, null)).status, 200);
  assert.equal((await scrape(v.url, null)).status, 200);
  const text = await (await scrape(v.url, null)).text();
  assert.match(text, /RATE_LIMITED/);
});

test('receipts ingested by outcome, HTTP requests by route and status, rate-limit refusals', async (t) => {
  const v = await start(t, { rateLimit: { perSecond: 0.001, burst: 1 } });
  const k = newKey('gpu-1');
  await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  const a = receiptBody(k);
  const b = receiptBody(k);
  const stray = receiptBody(k);
  stray.agent = 'gpu-2';
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, a), signBody(k, b)] });
  await call(`${v.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, a), signBody(k, stray)],
  });
  await call(`${v.url}/v1/receipts/${a.id}`, 'GET', undefined, null);
  await call(`${v.url}/v1/receipts/${b.id}`, 'GET', undefined, null); // 429: the bucket held one
  const m = parseMetrics(await (await scrape(v.url, READER_TOKEN)).text());
  assert.equal(m.get('tmb_verifier_receipts_ingested_total{outcome="accepted"}'), 2);
  assert.equal(m.get('tmb_verifier_receipts_ingested_total{outcome="duplicate"}'), 1);
  assert.equal(m.get('tmb_verifier_receipts_ingested_total{outcome="rejected"}'), 1);
  assert.equal(m.get('tmb_verifier_http_requests_total{route="/v1/receipts",method="POST",status="200"}'), 2);
  assert.equal(
    m.get('tmb_verifier_http_requests_total{route="/v1/receipts/:id",method="GET",status="200"}'),
    1,
  );
  assert.equal(
    m.get('tmb_verifier_http_requests_total{route="/v1/receipts/:id",method="GET",status="429"}'),
    1,
  );
  assert.equal(
    m.get('tmb_verifier_http_requests_total{route="/v1/agents/enroll",method="POST",status="200"}'),
    1,
  );
  assert.equal(m.get('tmb_verifier_rate_limited_total'), 1);
  // No evidence yet: the histogram is there, empty; no agent has a quote age.
  assert.equal(m.get('tmb_verifier_evidence_appraisal_seconds_count'), 0);
  assert.ok(![...m.keys()].some((k) => k.startsWith('tmb_verifier_agent_last_quote_age_seconds')));
});
