import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { L1_CHECKS } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody, type TestKey } from '../fixtures.ts';

let v: RunningVerifier;
let k: TestKey;
before(async () => {
  v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('gpu-1') });
  k = newKey('gpu-1');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
});
after(() => v.close());

const push = (receipts: unknown[]) => call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts });

test('a stored receipt comes back with its body, key and an L0 verdict', async () => {
  const body = receiptBody(k);
  const wire = signBody(k, body);
  await push([wire]);
  const r = await call(`${v.url}/v1/receipts/${body.id}`, 'GET');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.receipt, wire);
  assert.deepEqual(r.json.body, body);
  assert.equal(r.json.agentKey, Buffer.from(k.raw).toString('base64url'));
  const verdict = r.json.verdict as {
    level: string;
    ok: boolean;
    requestId: string;
    checks: { name: string; status: string }[];
  };
  assert.equal(verdict.level, 'L0');
  assert.equal(verdict.ok, true);
  assert.equal(verdict.requestId, body.request.id);
  assert.deepEqual(
    verdict.checks.map((c) => [c.name, c.status]),
    [
      ['receipt.format', 'pass'],
      ['receipt.signature', 'pass'],
      ['receipt.id', 'pass'],
      ['agent.enrolled', 'pass'],
      ['receipt.exchange', 'asserted'],
      // No AK activated within the deadline after the receipt's end (2023): no TPM attestation.
      ...L1_CHECKS.map((n) => [n, 'skipped']),
    ],
  );
});

// Issue 10 (soak): a receipt served before the agent's AK was activated read `L0, ok` with no L1
// check, then L1 later; now the L1 checks are pending until the inclusion deadline, through the
// API, with the verifier's clock injected.
test('regression: a receipt of an agent with no AK yet reads L0 with pending L1 checks, then skipped after the deadline', async () => {
  const clock = { now: Date.now() };
  const w = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1'),
    now: () => clock.now,
    inclusionDeadlineMs: 10_000,
  });
  try {
    assert.equal((await call(`${w.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
    const end = clock.now * 1000;
    const body = receiptBody(k, { time: { start: end - 2000, firstByte: end - 1000, end } });
    await call(`${w.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, body)] });
    type V = { level: string; ok: boolean; checks: { name: string; status: string; detail: string }[] };
    const read = async () => (await call(`${w.url}/v1/receipts/${body.id}`, 'GET')).json.verdict as V;
    clock.now += 9_999;
    const early = await read();
    assert.equal(early.level, 'L0');
    assert.equal(early.ok, true);
    const l1 = early.checks.filter((c) => (L1_CHECKS as readonly string[]).includes(c.name));
    assert.deepEqual(
      l1.map((c) => [c.name, c.status]),
      L1_CHECKS.map((n) => [n, 'asserted']),
    );
    for (const c of l1) assert.match(c.detail, /^pending: the agent's TPM is not enrolled yet/);
    clock.now += 1;
    const late = await read();
    assert.equal(late.level, 'L0');
    assert.equal(late.ok, true);
    assert.deepEqual(
      late.checks
        .filter((c) => (L1_CHECKS as readonly string[]).includes(c.name))
        .map((c) => [c.name, c.status]),
      L1_CHECKS.map((n) => [n, 'skipped']),
    );
  } finally {
    await w.close();
  }
});

test('an unknown or malformed id is 404 RECEIPT_NOT_FOUND', async () => {
  for (const id of ['0'.repeat(32), 'nothex', 'A'.repeat(32)]) {
    const r = await call(`${v.url}/v1/receipts/${id}`, 'GET');
    assert.equal(r.status, 404);
    assert.equal((r.json.error as { code: string }).code, 'RECEIPT_NOT_FOUND');
  }
});

test('a long-poll GET answers as soon as the receipt is pushed', async () => {
  const body = receiptBody(k);
  const pending = call(`${v.url}/v1/receipts/${body.id}?wait=20000`, 'GET');
  // Push only after the GET has reached the verifier and found nothing.
  await new Promise((r) => setTimeout(r, 100));
  await push([signBody(k, body)]);
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal((r.json.verdict as { receiptId: string }).receiptId, body.id);
});

test('a long-poll for a receipt that never comes ends in 404', async () => {
  const r = await call(`${v.url}/v1/receipts/${'1'.repeat(32)}?wait=50`, 'GET');
  assert.equal(r.status, 404);
});

test('a bad wait parameter is 400', async () => {
  const r = await call(`${v.url}/v1/receipts/${'1'.repeat(32)}?wait=-5`, 'GET');
  assert.equal(r.status, 400);
  assert.equal((r.json.error as { code: string }).code, 'BODY_MALFORMED');
});

test('lookup by request id returns every receipt with that id', async () => {
  const a = receiptBody(k, { request: { ...receiptBody(k).request, id: 'shared/req id' } });
  const b = receiptBody(k, { request: { ...a.request } });
  await push([signBody(k, a), signBody(k, b)]);
  const r = await call(`${v.url}/v1/requests/${encodeURIComponent('shared/req id')}`, 'GET');
  assert.equal(r.status, 200);
  const ids = (r.json.results as { verdict: { receiptId: string } }[]).map((x) => x.verdict.receiptId).sort();
  assert.deepEqual(ids, [a.id, b.id].sort());
  const none = await call(`${v.url}/v1/requests/nothing`, 'GET');
  assert.deepEqual(none.json, { results: [] });
});

test('unknown routes are 404, wrong methods 405, health is ok', async () => {
  assert.equal((await call(`${v.url}/v1/nope`, 'GET')).status, 404);
  const m = await call(`${v.url}/v1/receipts`, 'GET');
  assert.equal(m.status, 405);
  assert.equal((m.json.error as { code: string }).code, 'METHOD_NOT_ALLOWED');
  assert.deepEqual((await call(`${v.url}/healthz`, 'GET')).json, { ok: true });
});
