import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { after, test } from 'node:test';
import { ed25519PublicKey, enrolMessage, openSignedReceipt } from '@tmb/core';
import { parseCheckpoint, runOfCheckpoint } from '@tmb/core/log';
import { closers, tempDir } from '../../../../test/fixtures/cleanup.ts';
import { startAgent } from '../../src/agent.ts';
import { agentFor, fakeUpstream } from '../fixtures/model.ts';

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

// Every test's servers and agents stop at the file's end, last started first (test/fixtures/cleanup.ts).
const c = closers(after);
const stopAll = (...fns: (() => Promise<void>)[]) => {
  for (const fn of fns) c.add(fn);
};

test('receipts reach the verifier after retries; the key is enrolled first with a valid proof', async () => {
  const up = await fakeUpstream((_q, _b, res) => res.end('ok'));
  const ver = await fakeVerifier(3);
  const agent = await agentFor(up.url, { verifier: { url: ver.url, token: 's3cret' }, pushIntervalMs: 5 });
  stopAll(up.close, ver.close, agent.close);
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
  stopAll(up.close, ver.close, agent.close);
  const res = await fetch(`${agent.url}/x`);
  assert.equal(res.status, 200);
  await assert.rejects(agent.flush(), (e: Error & { code?: string }) => e.code === 'AGENT_ENROL_REJECTED');
  assert.equal(agent.store.pendingCount(), 1);
});

test('a receipt the verifier rejects ends the log run: run 1 starts at the next seq, its checkpoints carry the run line, across a restart (issue 10)', async (t) => {
  const up = await fakeUpstream((_q, _b, res) => res.end('ok'));
  const ver = await fakeVerifier(0);
  const { dir: dataDir, closers: ct } = await tempDir(t, 'tmb-runs-');
  ct.add(up.close, 'model server');
  ct.add(ver.close, 'verifier');
  const events: { event: string; detail: Record<string, unknown> }[] = [];
  const start = () =>
    startAgent(
      {
        upstream: up.url,
        dataDir,
        name: 'runs',
        tpm: 'none',
        verifier: { url: ver.url, token: 's3cret' },
        pushIntervalMs: 5,
        checkpointIntervalMs: 60_000,
      },
      (event, detail) => events.push({ event, detail }),
    );
  const seqOf = (agent: { store: { byId(id: string): { seq: number } | undefined } }, res: Response) =>
    agent.store.byId(res.headers.get('tmb-receipt-id')!)!.seq;
  let agent = await start();
  try {
    for (let i = 0; i < 4; i++) await fetch(`${agent.url}/x`);
    assert.equal(seqOf(agent, await fetch(`${agent.url}/reject-me`)), 4);
    await agent.flush(); // the verifier refuses seq 4
    await agent.attester.cycle();
    assert.deepEqual(agent.log.run, { run: 1, base: 5 }, 'the next run starts at the next seq');
    assert.ok(events.some((e) => e.event === 'log_run_started' && e.detail.run === 1));
    const later = [];
    for (let i = 0; i < 3; i++) later.push(seqOf(agent, await fetch(`${agent.url}/x`)));
    assert.deepEqual(later, [5, 6, 7]);
    await agent.attester.cycle();
    const cp = agent.log.latestCheckpoint()!;
    const text = cp.note.slice(0, cp.note.indexOf('\n\n') + 1);
    assert.deepEqual(runOfCheckpoint(text), { run: 1, base: 5 });
    assert.equal(parseCheckpoint(text).size, 3, 'seqs 5-7 are leaves 0-2 of run 1');
  } finally {
    await agent.close();
  }
  agent = await start();
  try {
    assert.deepEqual(agent.log.run, { run: 1, base: 5 }, 'the run survives a restart');
    assert.equal(seqOf(agent, await fetch(`${agent.url}/x`)), 8);
    await agent.attester.cycle();
    assert.match(agent.log.latestCheckpoint()!.note, /\ntmb-run 1 5\n/);
    assert.equal(agent.log.size, 4);
    assert.deepEqual(
      agent.log.runs().map((r) => r.run),
      [0, 1],
      'one rejection, one new run, however often the agent restarts',
    );
  } finally {
    await agent.close();
  }
});
