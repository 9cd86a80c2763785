import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import {
  agentTokens,
  call,
  enrolBody,
  newKey,
  PINNED_TOKEN,
  receiptBody,
  signBody,
  type TestKey,
  TOKEN,
} from '../fixtures.ts';

let v: RunningVerifier;
let k: TestKey;
before(async () => {
  v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1', 'gpu-2', 'pinned-1'),
    maxBatch: 5,
  });
  k = newKey('gpu-1');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
});
after(() => v.close());

test('a batch is accepted, and pushing it again counts duplicates', async () => {
  const receipts = [signBody(k, receiptBody(k)), signBody(k, receiptBody(k))];
  const first = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts });
  assert.equal(first.status, 200);
  assert.deepEqual(first.json, { accepted: 2, duplicate: 0, rejected: [] });
  const again = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts });
  assert.deepEqual(again.json, { accepted: 0, duplicate: 2, rejected: [] });
});

test('bad receipts are rejected one by one with their codes; good ones in the batch are kept', async () => {
  const good = signBody(k, receiptBody(k));
  const forged = { ...signBody(k, receiptBody(k)), sig: signBody(k, receiptBody(k)).sig };
  const stranger = newKey('gpu-1');
  const unknownKey = signBody(stranger, receiptBody(stranger));
  const otherAgent = signBody(k, receiptBody(k, { agent: 'gpu-2' }));
  const body = receiptBody(k);
  const conflict = signBody(k, { ...receiptBody(k), id: body.id });
  assert.equal(
    (await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, body)] })).status,
    200,
  );
  const r = await call(`${v.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [good, forged, { body: 'x' }, unknownKey, otherAgent],
  });
  assert.equal(r.status, 200);
  assert.equal(r.json.accepted, 1);
  const codes = (r.json.rejected as { index: number; code: string }[]).map((x) => [x.index, x.code]);
  assert.deepEqual(codes, [
    [1, 'RECEIPT_SIGNATURE_INVALID'],
    [2, 'RECEIPT_MALFORMED'],
    [3, 'AGENT_KEY_UNKNOWN'],
    [4, 'RECEIPT_AGENT_MISMATCH'],
  ]);
  const c = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [conflict] });
  assert.deepEqual(c.json.rejected, [
    { index: 0, code: 'RECEIPT_CONFLICT', message: `another receipt is stored under id ${body.id}` },
  ]);
});

test('a receipt signed by a key enrolled for another agent is AGENT_KEY_NOT_ENROLLED', async () => {
  const k2 = newKey('gpu-2');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k2))).status, 200);
  const r = await call(`${v.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k2, receiptBody(k2, { agent: 'gpu-1' }))],
  });
  assert.equal((r.json.rejected as { code: string }[])[0]?.code, 'AGENT_KEY_NOT_ENROLLED');
});

test('batch-level refusals: token, pinned name, shape and size', async () => {
  const receipts = [signBody(k, receiptBody(k))];
  const cases: [unknown, string | null, number, string][] = [
    [{ agent: 'gpu-1', receipts }, null, 401, 'TOKEN_INVALID'],
    [{ agent: 'gpu-1', receipts }, PINNED_TOKEN, 403, 'TOKEN_AGENT_MISMATCH'],
    [{ agent: 'gpu-1', receipts: {} }, TOKEN, 400, 'BODY_MALFORMED'],
    [{ receipts }, TOKEN, 400, 'BODY_MALFORMED'],
    [{ agent: 'gpu-1', receipts: new Array(6).fill(receipts[0]) }, TOKEN, 413, 'BATCH_TOO_LARGE'],
  ];
  for (const [body, token, status, code] of cases) {
    const r = await call(`${v.url}/v1/receipts`, 'POST', body, token);
    assert.equal(r.status, status, code);
    assert.equal((r.json.error as { code: string }).code, code);
  }
});
