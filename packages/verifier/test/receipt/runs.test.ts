import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody, type TestKey } from '../fixtures.ts';

// Issue 9, "Tokens and agent identity": log positions (seq) are taken only under the key of the
// agent's current run, so neither a stray key nor an old run can hold the agent's next
// positions and keep its real receipts from ever being covered by a checkpoint.

let v: RunningVerifier;
before(async () => {
  v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('run-a', 'run-b'), rateLimit: false });
});
after(() => v.close());

const at = (k: TestKey, seq: number, over: Parameters<typeof receiptBody>[1] = {}) =>
  signBody(k, receiptBody(k, { seq, ...over }));
const push = (agent: string, receipts: unknown[]) =>
  call(`${v.url}/v1/receipts`, 'POST', { agent, receipts });
const codes = (r: { json: Record<string, unknown> }) =>
  (r.json.rejected as { index: number; code: string }[]).map((x) => [x.index, x.code]);
const enrol = async (k: TestKey) =>
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);

test('regression: a superseded run delivers its backlog but cannot take the positions of the current run', async () => {
  const old = newKey('run-a');
  await enrol(old);
  assert.deepEqual((await push('run-a', [at(old, 0), at(old, 1)])).json.rejected, []);
  const current = newKey('run-a'); // the agent restarted: a fresh key
  await enrol(current);
  // The old run's backlog (pushed after the restart, before the new run pushed anything) is kept.
  assert.deepEqual((await push('run-a', [at(old, 2)])).json.rejected, []);
  assert.deepEqual((await push('run-a', [at(current, 3), at(current, 4)])).json.rejected, []);
  // From the first position the current run holds, the old key takes nothing, in any batch.
  const late = await push('run-a', [at(old, 5), at(old, 3), at(current, 5)]);
  assert.deepEqual(codes(late), [
    [0, 'RECEIPT_KEY_SUPERSEDED'],
    [1, 'RECEIPT_KEY_SUPERSEDED'],
  ]);
  assert.equal(late.json.accepted, 1);
});

test('within one batch, an old key is refused past the first position the new key takes in it', async () => {
  const old = newKey('run-b');
  await enrol(old);
  assert.deepEqual((await push('run-b', [at(old, 0)])).json.rejected, []);
  const current = newKey('run-b');
  await enrol(current);
  const r = await push('run-b', [at(old, 1), at(current, 2), at(old, 3)]);
  assert.deepEqual(codes(r), [[2, 'RECEIPT_KEY_SUPERSEDED']]);
});

test('regression: a position already held is never taken by another receipt: RECEIPT_SEQ_TAKEN, nothing stored', async () => {
  const k = newKey('run-a');
  await enrol(k);
  const first = receiptBody(k, { seq: 100 });
  const second = receiptBody(k, { seq: 100 });
  const r = await push('run-a', [signBody(k, first), signBody(k, second)]);
  assert.deepEqual(codes(r), [[1, 'RECEIPT_SEQ_TAKEN']]);
  assert.equal((await call(`${v.url}/v1/receipts/${second.id}`, 'GET')).status, 404);
  assert.equal((await call(`${v.url}/v1/receipts/${first.id}`, 'GET')).status, 200);
  // The same receipt again is a duplicate, not a taken position.
  assert.deepEqual((await push('run-a', [signBody(k, first)])).json, {
    accepted: 0,
    duplicate: 1,
    rejected: [],
  });
});

test("one agent's key never takes another agent's positions", async () => {
  const a = newKey('run-a');
  const b = newKey('run-b');
  await enrol(a);
  await enrol(b);
  // B's key, B's token, a receipt naming A at A's next position: refused before any position is taken.
  const r = await push('run-b', [at(b, 200, { agent: 'run-a' })]);
  assert.deepEqual(codes(r), [[0, 'RECEIPT_AGENT_MISMATCH']]);
  assert.deepEqual((await push('run-a', [at(a, 200)])).json.rejected, []);
});
