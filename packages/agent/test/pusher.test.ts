import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { after, test } from 'node:test';
import { ed25519PublicKey, enrolMessage, openSignedReceipt } from '@tmb/core';
import { agentFor, fakeUpstream } from './fixtures.ts';

// A fake verifier (a stub of the verifier's push API, docs/api.md) that fails the first pushes,
// then accepts, rejecting receipts whose request path says so.
async function fakeVerifier(failFirst: number) {
  const enrolled: { agent: string; key: string; proofOk: boolean }[] = [];
  const pushed: string[] = [];
  let calls = 0;
  const v = await fakeUpstream((req, body, res) => {
    const auth = req.headers.authorization;
    if (auth !== 'Bearer s3cret') {
      res.writeHead(401).end('{"error":{"code":"TOKEN_INVALID"}}');
      return;
    }
    const msg = JSON.parse(body.toString());
    if (req.url === '/v1/agents/enroll') {
      const key = Buffer.from(msg.key, 'base64url');
      const proofOk = verify(
        null,
        enrolMessage(msg.agent, key),
        ed25519PublicKey(key),
        Buffer.from(msg.proof, 'base64url'),
      );
      enrolled.push({ agent: msg.agent, key: msg.key, proofOk });
      res.writeHead(200).end('{}');
      return;
    }
    if (calls++ < failFirst) {
      res.writeHead(503).end('{"error":{"code":"BUSY"}}');
      return;
    }
    const rejected: { index: number; code: string }[] = [];
    msg.receipts.forEach((r: unknown, index: number) => {
      const { body: b } = openSignedReceipt(r);
      if (b.request.path === '/reject-me') rejected.push({ index, code: 'RECEIPT_SIGNATURE_INVALID' });
      else pushed.push(b.id);
    });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ accepted: pushed.length, duplicate: 0, rejected }));
  });
  return { ...v, enrolled, pushed };
}

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('receipts reach the verifier after retries; the key is enrolled first with a valid proof', async () => {
  const up = await fakeUpstream((_q, _b, res) => res.end('ok'));
  const ver = await fakeVerifier(3);
  const agent = await agentFor(up.url, { verifier: { url: ver.url, token: 's3cret' }, pushIntervalMs: 5 });
  cleanup.push(up.close, ver.close, agent.close);
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) ids.push((await fetch(`${agent.url}/x`)).headers.get('tmb-receipt-id')!);
  const rejectedId = (await fetch(`${agent.url}/reject-me`)).headers.get('tmb-receipt-id')!;
  for (let i = 0; i < 300 && agent.store.pendingCount() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(agent.store.pendingCount(), 0, 'everything pushed despite 3 failed pushes');
  assert.deepEqual(
    ver.enrolled.map((e) => [e.agent, e.proofOk]),
    [['test-agent', true]],
  );
  assert.deepEqual([...ver.pushed].sort(), [...ids].sort());
  assert.ok(
    agent.logs.some((l) => l.event === 'push_failed'),
    'the failure was reported',
  );
  assert.ok(!JSON.stringify(agent.logs).includes('s3cret'), 'the token never reaches a log');
  const code = agent.store.db.prepare('SELECT push_code FROM receipts WHERE id = ?').get(rejectedId) as {
    push_code: string;
  };
  assert.equal(code.push_code, 'RECEIPT_SIGNATURE_INVALID', 'a rejection is kept, not retried');
});

test('a wrong token: the agent keeps serving and keeps the receipts for later', async () => {
  const up = await fakeUpstream((_q, _b, res) => res.end('ok'));
  const ver = await fakeVerifier(0);
  const agent = await agentFor(up.url, { verifier: { url: ver.url, token: 'wrong' }, pushIntervalMs: 5 });
  cleanup.push(up.close, ver.close, agent.close);
  const res = await fetch(`${agent.url}/x`);
  assert.equal(res.status, 200);
  await assert.rejects(agent.flush(), (e: Error & { code?: string }) => e.code === 'AGENT_ENROL_REJECTED');
  assert.equal(agent.store.pendingCount(), 1);
});
