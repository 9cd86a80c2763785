import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utf8 } from '@tmb/core';
import { leafHash, MemoryTree, parseCheckpoint, runOfCheckpoint } from '@tmb/core/log';
import { LogFeeder } from '../../src/log/feeder.ts';
import { checkpointSigner } from '../../src/log/note.ts';
import { ReceiptLog } from '../../src/log/tree.ts';
import { generateAgentKey } from '../../src/receipt/key.ts';
import { ReceiptStore, type StoredReceipt } from '../../src/receipt/store.ts';

function row(seq: number): StoredReceipt {
  return {
    seq,
    id: seq.toString(16).padStart(32, '0'),
    requestId: `r${seq}`,
    keyId: 'k',
    body: utf8(`receipt ${seq}`),
    sig: new Uint8Array(64),
  };
}

/** Rows written as an older agent could leave them: straight into the table, any seq. */
function insertRaw(store: ReceiptStore, seqs: number[]): void {
  const stmt = store.db.prepare(
    'INSERT INTO receipts (seq, id, request_id, key_id, body, sig) VALUES (?, ?, ?, ?, ?, ?)',
  );
  for (const s of seqs) {
    const r = row(s);
    stmt.run(r.seq, r.id, r.requestId, r.keyId, r.body, r.sig);
  }
}

const rethrow = (err: unknown): void => {
  throw err;
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-feeder-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function openStore(dir: string): { store: ReceiptStore; log: ReceiptLog } {
  const store = new ReceiptStore(dir);
  store.addKey({ keyId: 'k', publicKey: new Uint8Array(32), proof: new Uint8Array(64) }, 0);
  return { store, log: ReceiptLog.open(store.db) };
}

async function withStore(fn: (store: ReceiptStore, log: ReceiptLog) => Promise<void>): Promise<void> {
  await withDir(async (dir) => {
    const { store, log } = openStore(dir);
    try {
      await fn(store, log);
    } finally {
      await store.close();
    }
  });
}

/** Root of the receipts with seq from..to-1 (a run's tree). */
const rootOf = (to: number, from = 0) =>
  new MemoryTree(Array.from({ length: to - from }, (_, i) => leafHash(row(from + i).body))).root();

const signer = checkpointSigner('tmb/agent/feeder', generateAgentKey('feeder'));

test('receipts committed in one turn are appended in seq order, leaf i = receipt seq i', async () => {
  await withStore(async (store, log) => {
    const errors: unknown[] = [];
    const feeder = new LogFeeder(log, store, (e) => errors.push(e));
    const rows = await Promise.all([0, 1, 2].map(() => store.add(row)));
    for (const r of [rows[2]!, rows[0]!, rows[1]!]) feeder.add(r);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, []);
    assert.equal(log.size, 3);
    assert.deepEqual(log.root(), rootOf(3));
  });
});

test('after a crash between store and log, catchUp appends the stored receipts the log lacks', async () => {
  await withStore(async (store, log) => {
    for (let i = 0; i < 4; i++) await store.add(row);
    log.append([row(0).body], 0); // only the first reached the log before the "crash"
    const feeder = new LogFeeder(log, store, () => {});
    assert.equal(feeder.catchUp(), 3);
    assert.deepEqual(log.root(), rootOf(4));
    assert.equal(feeder.catchUp(), 0);
  });
});

test('a gap in the receipt store (an older agent burnt seq 2) starts run 1 at seq 3 instead of wedging the log', async () => {
  await withDir(async (dir) => {
    {
      const { store } = openStore(dir);
      insertRaw(store, [0, 1, 3, 4]);
      await store.close();
    }
    {
      const { store, log } = openStore(dir);
      const runs: unknown[] = [];
      const feeder = new LogFeeder(log, store, rethrow, { onRun: (r) => runs.push(r), nowUs: () => 7 });
      assert.equal(feeder.catchUp(), 4, 'every stored receipt is in a run');
      assert.deepEqual(runs, [{ run: 1, base: 3, reason: 'seq 2 is missing from the receipt store' }]);
      assert.deepEqual(log.run, { run: 1, base: 3 });
      assert.equal(log.size, 2);
      assert.deepEqual(log.root(), rootOf(5, 3));
      assert.deepEqual(log.rootAt(2, 0), rootOf(2), 'run 0 keeps seqs 0 and 1');
      // New receipts go on in run 1, and its checkpoints carry the run line.
      const next = await store.add(row);
      assert.equal(next.seq, 5);
      feeder.add(next);
      feeder.flush();
      assert.equal(log.size, 3);
      const cp = await log.checkpoint('tmb/agent/feeder', signer, () => ['tmb-telemetry 1 2 abc']);
      assert.deepEqual(runOfCheckpoint(cp.note.slice(0, cp.note.indexOf('\n\n') + 1)), { run: 1, base: 3 });
      assert.deepEqual(parseCheckpoint(cp.note.slice(0, cp.note.indexOf('\n\n') + 1)).extensions, [
        'tmb-run 1 3',
        'tmb-telemetry 1 2 abc',
      ]);
      assert.deepEqual(log.inclusionProof(2, 3).index, 2, 'seq 5 is leaf 5 - 3 of run 1');
      assert.equal(log.locate(5)?.index, 2);
      assert.equal(log.locate(2), null, 'seq 2 is in no run');
      assert.equal(log.audit(true).ok, true);
      await store.close();
    }
    // Across a restart the run stays.
    const { store, log } = openStore(dir);
    try {
      const feeder = new LogFeeder(log, store, rethrow);
      assert.equal(feeder.catchUp(), 0);
      assert.deepEqual(log.run, { run: 1, base: 3 });
      assert.deepEqual(
        log.runs().map((r) => [r.run, r.base, r.size, r.reason, r.startedUs]),
        [
          [0, 0, 2, 'the first run', 0],
          [1, 3, 3, 'seq 2 is missing from the receipt store', 7],
        ],
      );
      assert.equal(log.latestCheckpoint()?.run, 1);
    } finally {
      await store.close();
    }
  });
});

test('a receipt the verifier rejected ends its run: the next starts past everything appended', async () => {
  await withStore(async (store, log) => {
    const feeder = new LogFeeder(log, store, rethrow);
    for (let i = 0; i < 5; i++) feeder.add(await store.add(row));
    feeder.flush();
    assert.equal(log.size, 5);
    const first = await log.checkpoint('tmb/agent/feeder', signer);
    assert.ok(!first.note.includes('tmb-run'), 'run 0 checkpoints have no run line');
    // The pusher records the verifier's rejection of seq 2.
    store.markPushed([0, 1, 2, 3, 4], new Map([[2, 'RECEIPT_SIGNATURE_INVALID']]));
    feeder.flush();
    assert.deepEqual(log.run, { run: 1, base: 5 });
    assert.equal(log.runs()[1]?.reason, 'receipt seq 2 rejected by the verifier: RECEIPT_SIGNATURE_INVALID');
    feeder.flush();
    assert.deepEqual(log.run, { run: 1, base: 5 }, 'one rejection, one new run');
    feeder.add(await store.add(row));
    feeder.flush();
    assert.deepEqual(log.root(), rootOf(6, 5));
    const cp = await log.checkpoint('tmb/agent/feeder', signer);
    assert.match(cp.note, /\ntmb-run 1 5\n/);
    assert.equal(cp.base, 5);
    // Proofs of run 0 stay available against its checkpoint.
    assert.equal(log.inclusionProof(2, first.size, 0).index, 2);
    assert.deepEqual(log.rootAt(first.size, 0), first.root);
    // A break asked for by the verifier (LOG_RUN_BROKEN) starts run 2; an empty run is not broken again.
    assert.deepEqual(feeder.breakRun('verifier'), { run: 2, base: 6 });
    assert.equal(feeder.breakRun('verifier'), null);
    assert.equal(log.audit(true).ok, true);
  });
});

test('a rejected receipt not yet in the log starts the next run past it', async () => {
  await withStore(async (store, log) => {
    const feeder = new LogFeeder(log, store, rethrow);
    for (let i = 0; i < 4; i++) await store.add(row);
    log.append([row(0).body], 0);
    store.markPushed([3], new Map([[3, 'RECEIPT_SEQ_TAKEN']]));
    assert.equal(feeder.catchUp(), 0, 'seqs 1-3 are in no run');
    assert.deepEqual(log.run, { run: 1, base: 4 });
    feeder.add(await store.add(row));
    feeder.flush();
    assert.equal(log.size, 1);
    assert.equal(log.locate(4)?.run, 1);
  });
});
