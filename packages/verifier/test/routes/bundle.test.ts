import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody } from '../fixtures.ts';

// GET /v1/receipts/:id/bundle without a TPM quote (docs/bundle.md): public, and 404 until a
// quote covers the receipt. Bundles of quoted receipts: packages/client/test/bundle-live.test.ts.

let v: RunningVerifier;
let id: string;
before(async () => {
  v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('gpu-1') });
  const k = newKey('gpu-1');
  await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  const body = receiptBody(k);
  await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, body)] });
  id = body.id;
});
after(() => v.close());

test('a receipt of an agent without a TPM has no bundle: 404 BUNDLE_NOT_READY, no token needed', async () => {
  const r = await fetch(`${v.url}/v1/receipts/${id}/bundle`);
  assert.equal(r.status, 404);
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BUNDLE_NOT_READY');
});

test('an unknown or malformed receipt id is 404 RECEIPT_NOT_FOUND', async () => {
  for (const x of ['0'.repeat(32), 'nothex', 'A'.repeat(32)]) {
    const r = await fetch(`${v.url}/v1/receipts/${x}/bundle`);
    assert.equal(r.status, 404, x);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'RECEIPT_NOT_FOUND', x);
  }
});

test('only GET: another method is 405', async () => {
  const r = await fetch(`${v.url}/v1/receipts/${id}/bundle`, { method: 'POST' });
  assert.equal(r.status, 405);
});
