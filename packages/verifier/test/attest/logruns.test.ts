import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ReceiptBody } from '@tmb/core';
import { verifyBundle } from '../../../client/src/index.ts';
import { type RunningVerifier, startVerifier } from '../../src/index.ts';
import { agentTokens, call } from '../fixtures.ts';
import { type ScriptedHost, withVerifier } from './kernel-host.ts';

// Issue 10, "No stuck states": one refused receipt, or a seq the verifier never received, stopped
// the verifier's rebuilt tree at that seq for good. Now the evidence answer says LOG_RUN_BROKEN,
// the agent starts a new log run (docs/evidence.md, "Log runs and recovery"), the new run's
// receipts reach L1, and the receipts the old run left behind fail RECEIPT_LOG_RUN_ENDED with
// the verifier's own reason. Through the HTTP API, on a real swtpm.

let v: RunningVerifier;
let host: ScriptedHost;
let dir: string;
let ekRoots: string[];
let dbDir: string;

before(async () => {
  dbDir = await mkdtemp(join(tmpdir(), 'tmb-logruns-db-'));
  ({
    v,
    host,
    dir,
    tpmRoots: ekRoots,
  } = await withVerifier('tmb-logruns-', 'host-runs', {
    rateLimit: false,
    dbPath: join(dbDir, 'verifier.db'),
  }));
});

// The swtpm and the current verifier (the last test restarts it) stop before their folders go.
after(async () => {
  await host?.close();
  await v?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(dbDir, { recursive: true, force: true });
});

type CheckJson = { name: string; status: string; code?: string; detail: string };

async function included(id: string): Promise<CheckJson> {
  const r = await call(`${v.url}/v1/receipts/${id}`, 'GET', undefined, null);
  const checks = (r.json.verdict as { checks: CheckJson[] }).checks;
  return checks.find((c) => c.name === 'receipt.included')!;
}

const check = (r: { json: Record<string, unknown> }, name: string) =>
  (r.json.checks as CheckJson[]).find((c) => c.name === name)!;

/** Appends `n` receipts to the agent's log; pushes them, except `skip` (by offset), and with a broken signature at `corrupt`. */
async function serve(n: number, o: { corrupt?: number; skip?: number } = {}): Promise<ReceiptBody[]> {
  const { bodies, rejected } = await host.push(n, o);
  assert.equal(rejected.length, o.corrupt === undefined ? 0 : 1);
  return bodies;
}

let run0: ReceiptBody[];
let left: ReceiptBody;

test('a receipt the verifier refused: the evidence answer says LOG_RUN_BROKEN from its seq', async () => {
  run0 = await serve(3);
  assert.equal((await host.quote()).status, 200);
  const more = await serve(3, { corrupt: 1 }); // seq 3 accepted, seq 4 refused, seq 5 accepted
  left = more[0]!;
  const r = await host.quote();
  assert.equal(r.status, 422);
  const receipts = check(r, 'checkpoint.receipts');
  assert.equal(receipts.status, 'fail');
  assert.equal(receipts.code, 'LOG_RUN_BROKEN');
  const logRun = r.json.logRun as Record<string, unknown>;
  assert.equal(logRun.code, 'LOG_RUN_BROKEN');
  assert.equal(logRun.run, 0);
  assert.equal(logRun.base, 0);
  assert.equal(logRun.seq, 4);
  assert.match(String(logRun.detail), /receipt seq 4 refused: RECEIPT_SIGNATURE_INVALID/);
  // Asking again changes nothing: without a new run the agent stays here.
  assert.equal((await host.quote()).status, 422);
});

test('a checkpoint of run 1: new receipts reach receipt.included pass; left-behind ones fail RECEIPT_LOG_RUN_ENDED naming why', async () => {
  const fresh = await serve(2); // seq 6, 7
  const r = await host.quote({ run: { run: 1, base: 6 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.match(check(r, 'checkpoint.consistent').detail, /first quoted checkpoint of log run 1/);
  for (const b of fresh) {
    const c = await included(b.id);
    assert.equal(c.status, 'pass', c.detail);
    assert.match(c.detail, /leaf [01] of the quoted checkpoint of size 2 \(log run 1, from seq 6\)/);
  }
  // Seq 3 was received but no quote of run 0 covered it: it never will be.
  const c = await included(left.id);
  assert.equal(c.status, 'fail');
  assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
  assert.match(c.detail, /log run 0/);
  assert.match(c.detail, /receipt seq 4 refused: RECEIPT_SIGNATURE_INVALID/);
  // What run 0's accepted checkpoint covered stays included, against that checkpoint.
  for (const b of run0) assert.equal((await included(b.id)).status, 'pass');
  // The nonce answer names the run the quoted size is of.
  const n = await call(`${v.url}/v1/attest/nonce`, 'POST', { agent: host.agent });
  assert.deepEqual(n.json.checkpointRun, { run: 1, base: 6 });
  assert.equal(n.json.checkpointSize, 2);
  // Offline bundles: a run-1 receipt is proved at leaf seq - base; a left-behind one has none.
  const verifierKey = (await call(`${v.url}/v1/verifier-key`, 'GET', undefined, null)).json;
  for (const b of [fresh[0]!, run0[0]!]) {
    const bundle = await call(`${v.url}/v1/receipts/${b.id}/bundle`, 'GET', undefined, null);
    assert.equal(bundle.status, 200, JSON.stringify(bundle.json));
    const offline = await verifyBundle(bundle.json, { verifierKey, ekRoots });
    for (const name of ['receipt.included', 'checkpoint.consistent', 'checkpoint.signature']) {
      const c = offline.checks.find((x) => x.name === name)!;
      assert.equal(c.status, 'pass', `${name}: ${c.detail}`);
    }
    if (b === fresh[0])
      assert.match(
        offline.checks.find((x) => x.name === 'receipt.included')!.detail,
        /leaf 0 \(log run 1, from seq 6\)/,
      );
  }
  const none = await call(`${v.url}/v1/receipts/${left.id}/bundle`, 'GET', undefined, null);
  assert.equal(none.status, 404);
  // The same run goes on, consistency-checked within it.
  const later = await serve(1);
  const r2 = await host.quote({ run: { run: 1, base: 6 } });
  assert.equal(r2.status, 200, JSON.stringify(r2.json));
  assert.match(check(r2, 'checkpoint.consistent').detail, /size 2 -> 3/);
  assert.equal((await included(later[0]!.id)).status, 'pass');
});

test('a stale run, or a run base that would re-cover old seqs, is refused', async () => {
  const stale = await host.quote();
  assert.equal(stale.status, 422);
  assert.equal(check(stale, 'checkpoint.consistent').code, 'LOG_RUN_STALE');
  assert.equal(stale.json.logRun, undefined);
  const moved = await host.quote({ run: { run: 1, base: 7 } });
  assert.equal(check(moved, 'checkpoint.consistent').code, 'LOG_RUN_BASE_INVALID');
  // Run 2 may not start below seq 9, which a quoted checkpoint of run 1 covers.
  const back = await host.quote({ run: { run: 2, base: 8 } });
  assert.equal(back.status, 422);
  assert.equal(check(back, 'checkpoint.consistent').code, 'LOG_RUN_BASE_INVALID');
});

test('a seq never received: LOG_RUN_BROKEN, and run 2 leaves it behind with that reason', async () => {
  const lost = await serve(3, { skip: 1 }); // seq 9, (10 lost), 11
  const r = await host.quote({ run: { run: 1, base: 6 } });
  assert.equal(r.status, 422);
  assert.equal(check(r, 'checkpoint.receipts').code, 'LOG_RUN_BROKEN');
  assert.equal((r.json.logRun as { seq: number }).seq, 10);
  assert.match(String((r.json.logRun as { detail: string }).detail), /seq 10 never received/);
  const next = await serve(1); // seq 12
  const r2 = await host.quote({ run: { run: 2, base: 12 } });
  assert.equal(r2.status, 200, JSON.stringify(r2.json));
  assert.equal((await included(next[0]!.id)).status, 'pass');
  const c = await included(lost[0]!.id);
  assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
  assert.match(c.detail, /log run 1/);
  assert.match(c.detail, /seq 10 never received/);
});

test('runs, ended runs and trees survive a verifier restart', async () => {
  const ended = host.bodies.find((b) => b.seq === 9)!; // left behind by run 1
  await v.close();
  v = await startVerifier({
    dbPath: join(dbDir, 'verifier.db'),
    tokens: agentTokens(host.agent),
    tpmRoots: ekRoots,
    rateLimit: false,
  });
  host.url = v.url;
  const c = await included(ended.id);
  assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
  assert.match(c.detail, /seq 10 never received/);
  // Run 2 goes on from its persisted tree, consistency-checked; run 1 stays stale.
  const more = await serve(2);
  const r = await host.quote({ run: { run: 2, base: 12 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.match(check(r, 'checkpoint.consistent').detail, /size 1 -> 3/);
  for (const b of more) assert.equal((await included(b.id)).status, 'pass');
  assert.equal(
    check(await host.quote({ run: { run: 1, base: 6 } }), 'checkpoint.consistent').code,
    'LOG_RUN_STALE',
  );
});
