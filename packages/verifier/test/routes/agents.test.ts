import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { agentTokens, call, enrolBody, newKey, PINNED_TOKEN, TOKEN } from '../fixtures.ts';

let v: RunningVerifier;
before(async () => {
  v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1', 'gpu-2', 'gpu-3', 'gpu-5', 'gpu-6', 'gpu-7', 'pinned-1'),
  });
});
after(() => v.close());

test('a good token and proof enrol the key, and the key is listed', async () => {
  const k = newKey('gpu-1');
  const r = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { agent: 'gpu-1', keyId: k.keyId });
  const again = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  assert.equal(again.status, 200, 're-enrolling the same key for the same agent is a no-op');
  const list = await call(`${v.url}/v1/agents`, 'GET');
  const agents = list.json.agents as { agent: string; keys: { keyId: string }[] }[];
  assert.deepEqual(
    agents.find((a) => a.agent === 'gpu-1')?.keys.map((x) => x.keyId),
    [k.keyId],
  );
});

test('a missing or wrong token is 401 TOKEN_INVALID', async () => {
  const k = newKey('gpu-2');
  for (const token of [null, 'wrong-token-0123456789abcdef', `${TOKEN}x`]) {
    const r = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k), token);
    assert.equal(r.status, 401);
    assert.equal((r.json.error as { code: string }).code, 'TOKEN_INVALID');
    assert.doesNotMatch(JSON.stringify(r.json), /token-0123/, 'the answer never echoes a token');
  }
});

test('a token pinned to another agent name is 403 TOKEN_AGENT_MISMATCH', async () => {
  const ok = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(newKey('pinned-1')), PINNED_TOKEN);
  assert.equal(ok.status, 200);
  const r = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(newKey('other')), PINNED_TOKEN);
  assert.equal(r.status, 403);
  assert.equal((r.json.error as { code: string }).code, 'TOKEN_AGENT_MISMATCH');
});

test('a proof by another key, or for another name, is 400 ENROL_PROOF_INVALID', async () => {
  const k = newKey('gpu-3');
  const other = newKey('gpu-3');
  const wrongKey = { ...enrolBody(k), proof: enrolBody(other).proof };
  const wrongName = { ...enrolBody(k, 'gpu-4'), agent: 'gpu-3' };
  for (const body of [wrongKey, wrongName]) {
    const r = await call(`${v.url}/v1/agents/enroll`, 'POST', body);
    assert.equal(r.status, 400);
    assert.equal((r.json.error as { code: string }).code, 'ENROL_PROOF_INVALID');
  }
});

test('one key cannot be enrolled for two agents: 409 ENROL_KEY_CONFLICT', async () => {
  const k = newKey('gpu-5');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const r = await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k, 'gpu-6'));
  assert.equal(r.status, 409);
  assert.equal((r.json.error as { code: string }).code, 'ENROL_KEY_CONFLICT');
});

test('malformed enrolments are 400 BODY_MALFORMED', async () => {
  const k = newKey('gpu-7');
  const good = enrolBody(k);
  for (const body of [
    '{',
    [],
    { ...good, agent: 'has space' },
    { ...good, key: `${good.key}=` },
    { ...good, key: good.key.slice(0, 20) },
    { ...good, proof: 7 },
  ]) {
    const r = await call(`${v.url}/v1/agents/enroll`, 'POST', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((r.json.error as { code: string }).code, 'BODY_MALFORMED');
  }
});
