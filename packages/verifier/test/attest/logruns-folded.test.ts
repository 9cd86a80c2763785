import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import type { ReceiptBody } from '@tmb/core';
import { verifyBundle } from '../../../client/src/index.ts';
import { foldEndedRuns, loadAttest, saveAttest } from '../../src/attest/state.ts';
import { type RunningVerifier, startVerifier } from '../../src/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { agentTokens, call } from '../fixtures.ts';
import { type ScriptedHost, withVerifier } from './kernel-host.ts';

// Session 13 capped the ended log runs an agent's state keeps (attest/state.ts MAX_ENDED_RUNS):
// a receipt of a folded run failed `receipt.included` while its offline bundle, built from the
// archive, still checked. Now a folded run's receipt is judged from the archived quotes of its
// run (attest/runs.ts placeFolded): the same verdict, live and from its bundle, as before the
// fold, and, once the archive no longer holds those quotes, a named failure and no bundle.
// Through the HTTP API on a real swtpm; the fold is done on the stopped verifier's database.

let v: RunningVerifier;
let host: ScriptedHost;
let dir: string;
let ekRoots: string[];
let dbDir: string;
let dbPath: string;

before(async () => {
  dbDir = await mkdtemp(join(tmpdir(), 'tmb-folded-db-'));
  dbPath = join(dbDir, 'verifier.db');
  ({
    v,
    host,
    dir,
    tpmRoots: ekRoots,
  } = await withVerifier('tmb-folded-', 'host-folded', { rateLimit: false, dbPath }));
});

// The swtpm and the current verifier (tests restart it) stop before their folders go.
after(async () => {
  await host?.close();
  await v?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(dbDir, { recursive: true, force: true });
});

type CheckJson = { name: string; status: string; code?: string; detail: string };
const outcome = (checks: CheckJson[]) => checks.map(({ name, status, code }) => ({ name, status, code }));

/** The live verdict of a receipt: its level and checks. */
async function verdict(id: string): Promise<{ level: string; checks: CheckJson[] }> {
  const r = await call(`${v.url}/v1/receipts/${id}`, 'GET', undefined, null);
  assert.equal(r.status, 200);
  return r.json.verdict as { level: string; checks: CheckJson[] };
}

/** The receipt's bundle checked offline (client verifyBundle), or the HTTP status when none is served. */
async function offline(id: string): Promise<{ level: string; checks: CheckJson[] } | number> {
  const r = await call(`${v.url}/v1/receipts/${id}/bundle`, 'GET', undefined, null);
  if (r.status !== 200) return r.status;
  const verifierKey = (await call(`${v.url}/v1/verifier-key`, 'GET', undefined, null)).json;
  return (await verifyBundle(r.json, { verifierKey, ekRoots })) as { level: string; checks: CheckJson[] };
}

const included = (checks: CheckJson[]) => checks.find((c) => c.name === 'receipt.included')!;

/** Appends `n` receipts to the agent's log and pushes them, with a broken signature at `corrupt`. */
async function serve(n: number, corrupt?: number): Promise<ReceiptBody[]> {
  return (await host.push(n, corrupt === undefined ? {} : { corrupt })).bodies;
}

/** Stops the verifier, changes its database with `change`, and starts it again on it. */
async function offlineEdit(change: (path: string) => Promise<void>): Promise<void> {
  await v.close();
  await change(dbPath);
  v = await startVerifier({ dbPath, tokens: agentTokens(host.agent), tpmRoots: ekRoots, rateLimit: false });
  host.url = v.url;
}

let covered: ReceiptBody; // seq 0: run 0's quoted checkpoint covers it
let left: ReceiptBody; // seq 2: run 0 ended without a quote covering it
let current: ReceiptBody; // seq 5: run 1
type Seen = { live: { level: string; checks: CheckJson[] }; bundle: Awaited<ReturnType<typeof offline>> };
const seen = new Map<string, Seen>();

test('run 0 ends with seq 0 covered and seq 2 left behind: verdicts and bundles before any fold', async () => {
  [covered] = await serve(2); // seq 0, 1
  assert.equal((await host.quote()).status, 200);
  [left] = await serve(3, 1); // seq 2 accepted, 3 refused, 4 accepted
  assert.equal((await host.quote()).status, 422);
  [current] = await serve(1); // seq 5
  const r = await host.quote({ run: { run: 1, base: 5 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  for (const b of [covered!, left!, current!])
    seen.set(b.id, { live: await verdict(b.id), bundle: await offline(b.id) });
  // (This scripted host sends no boot log: host.boot fails, the level is L0 on both sides.)
  const c = seen.get(covered!.id)!;
  assert.equal(included(c.live.checks).status, 'pass', included(c.live.checks).detail);
  assert.ok(typeof c.bundle !== 'number', `bundle ${String(c.bundle)}`);
  assert.equal(included(c.bundle.checks).status, 'pass', included(c.bundle.checks).detail);
  assert.equal(included(seen.get(left!.id)!.live.checks).code, 'RECEIPT_LOG_RUN_ENDED');
  assert.equal(seen.get(left!.id)!.bundle, 404);
});

test('folded: the same receipts get the same verdicts, live and from their bundles', async () => {
  await offlineEdit(async (path) => {
    const store = new SqliteStore(path);
    try {
      const state = (await loadAttest(store, host.agent))!;
      assert.equal(state.endedRuns?.length, 1);
      // Every ended run folded, as MAX_ENDED_RUNS later run ends would leave run 0.
      await saveAttest(store, host.agent, foldEndedRuns(state, 0), state);
      assert.deepEqual((await loadAttest(store, host.agent))!.foldedRuns, {
        runs: 1,
        first: 0,
        last: 0,
        base: 0,
        end: 5,
      });
    } finally {
      await store.close();
    }
  });
  for (const b of [covered, left, current]) {
    const was = seen.get(b.id)!;
    const now = await verdict(b.id);
    assert.equal(now.level, was.live.level, `seq ${b.seq}`);
    assert.deepEqual(outcome(now.checks), outcome(was.live.checks), `seq ${b.seq}`);
    const bundle = await offline(b.id);
    if (typeof was.bundle === 'number') assert.equal(bundle, was.bundle, `seq ${b.seq}: bundle`);
    else {
      assert.ok(typeof bundle !== 'number', `seq ${b.seq}: bundle ${String(bundle)}`);
      assert.equal(bundle.level, was.bundle.level);
      assert.deepEqual(outcome(bundle.checks), outcome(was.bundle.checks), `seq ${b.seq}: bundle`);
    }
  }
  assert.match(
    included((await verdict(covered.id)).checks).detail,
    /\(a folded log run: its archived quote\)$/,
  );
  assert.match(
    included((await verdict(left.id)).checks).detail,
    /folded: no quote archived here covered it before its run ended/,
  );
});

test("folded, and the archive no longer holds run 0's quotes: a named failure live and no bundle", async () => {
  await offlineEdit(async (path) => {
    // Retention deletes the oldest boots' rows (docs/bundle.md); here run 0's row alone goes.
    const db = new DatabaseSync(path);
    try {
      const gone = db.prepare('DELETE FROM bundle_quotes WHERE agent = ? AND seq_end <= 2').run(host.agent);
      assert.ok(Number(gone.changes) >= 1);
    } finally {
      db.close();
    }
  });
  for (const b of [covered, left]) {
    const c = included((await verdict(b.id)).checks);
    assert.equal(c.status, 'fail', `seq ${b.seq}: ${c.detail}`);
    assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(c.detail, /folded: the quotes that could have covered it are no longer archived here/);
    assert.equal(await offline(b.id), 404, `seq ${b.seq}: bundle`);
  }
  const now = await verdict(current.id);
  assert.deepEqual(outcome(now.checks), outcome(seen.get(current.id)!.live.checks));
});
