import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utf8 } from '@tmb/core';
import { leafHash, MemoryTree } from '@tmb/core/log';
import { LogFeeder } from '../../src/log/feeder.ts';
import { ReceiptLog } from '../../src/log/tree.ts';
import { ReceiptStore, type StoredReceipt } from '../../src/receipt/store.ts';

// One transaction per batch for the receipts and their log leaves (ReceiptStore.inCommit wired to
// LogFeeder.inCommit, as parts.ts does): what commits, what fails, and what falls back.

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

const rootOf = (to: number, from = 0) =>
  new MemoryTree(Array.from({ length: to - from }, (_, i) => leafHash(row(from + i).body))).root();

const rethrow = (err: unknown): void => {
  throw err;
};

const count = (store: ReceiptStore) =>
  (store.db.prepare('SELECT COUNT(*) AS n FROM receipts').get() as { n: number }).n;

/** A store and its log in one file, wired as the agent wires them, and caught up. */
async function withWired(
  fn: (store: ReceiptStore, log: ReceiptLog, feeder: LogFeeder) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-commit-'));
  const store = new ReceiptStore(dir);
  try {
    store.addKey({ keyId: 'k', publicKey: new Uint8Array(32), proof: new Uint8Array(64) }, 0);
    const log = ReceiptLog.open(store.db);
    const feeder = new LogFeeder(log, store, rethrow);
    feeder.catchUp();
    store.inCommit = (rows) => feeder.inCommit(rows);
    await fn(store, log, feeder);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Makes every log node insert fail (as a full disk would) until the returned function is called. */
function breakLogWrites(store: ReceiptStore): () => void {
  store.db.exec(
    "CREATE TEMP TRIGGER tmb_test_full BEFORE INSERT ON log_nodes BEGIN SELECT RAISE(ABORT, 'simulated SQLITE_FULL'); END;",
  );
  return () => store.db.exec('DROP TRIGGER tmb_test_full');
}

test('a batch of receipts is in the log when its receipts resolve: one commit holds both', async () => {
  await withWired(async (store, log) => {
    const rows = await Promise.all([0, 1, 2, 3].map(() => store.add(row)));
    assert.deepEqual(
      rows.map((r) => r.seq),
      [0, 1, 2, 3],
    );
    // No later turn of the event loop is needed: the leaves were committed with the receipts.
    assert.equal(log.size, 4);
    assert.deepEqual(log.root(), rootOf(4));
    const second = await Promise.all([0, 1].map(() => store.add(row)));
    assert.equal(second[1]!.seq, 5);
    assert.equal(log.size, 6);
    assert.deepEqual(log.root(), rootOf(6));
    assert.equal(log.audit(true).ok, true);
  });
});

test('a failed log append fails exactly the receipts of its batch; the next batch reuses their seqs', async () => {
  await withWired(async (store, log, feeder) => {
    await Promise.all([0, 1].map(() => store.add(row)));
    const repair = breakLogWrites(store);
    const failed = await Promise.allSettled([0, 1, 2].map(() => store.add(row)));
    for (const f of failed) {
      assert.equal(f.status, 'rejected');
      assert.equal((f.reason as { code?: string }).code, 'AGENT_STORE_FAILED');
    }
    // Nothing of the failed batch was kept: not its receipts, not a leaf, not a log position.
    assert.equal(count(store), 2);
    assert.equal(store.nextSeq(), 2);
    assert.equal(log.size, 2);
    assert.deepEqual(log.root(), rootOf(2));
    repair();
    const next = await Promise.all([0, 1].map(() => store.add(row)));
    assert.deepEqual(
      next.map((r) => r.seq),
      [2, 3],
    );
    for (const r of next) feeder.add(r); // what the signer does: already in the log, skipped
    feeder.flush();
    assert.equal(log.size, 4);
    assert.deepEqual(log.root(), rootOf(4));
    assert.equal(log.audit(true).ok, true);
  });
});

test('after a rejection the batch commits alone, a new run starts, and later batches commit with their leaves', async () => {
  await withWired(async (store, log, feeder) => {
    for (const r of await Promise.all([0, 1, 2].map(() => store.add(row)))) feeder.add(r);
    assert.equal(log.size, 3);
    store.markPushed([0, 1, 2], new Map([[1, 'RECEIPT_SIGNATURE_INVALID']]));
    // The new run is not started inside a receipt batch: this batch commits without its leaf ...
    const alone = await store.add(row);
    assert.equal(alone.seq, 3);
    assert.equal(log.nextSeq, 3);
    // ... and the feeder appends it after, in run 1 (what the signer's onStored does).
    feeder.add(alone);
    feeder.flush();
    assert.deepEqual(log.run, { run: 1, base: 3 });
    assert.equal(log.size, 1);
    const after = await store.add(row);
    assert.equal(after.seq, 4);
    assert.equal(log.size, 2, 'back to one commit for both');
    assert.deepEqual(log.root(), rootOf(5, 3));
    assert.equal(log.audit(true).ok, true);
  });
});

test('a log that fell behind the store is caught up before batches commit with their leaves again', async () => {
  await withWired(async (store, log, feeder) => {
    store.inCommit = undefined; // as a store whose log is elsewhere: receipts commit alone
    const rows = await Promise.all([0, 1, 2].map(() => store.add(row)));
    assert.equal(log.size, 0);
    store.inCommit = (r) => feeder.inCommit(r);
    // The log does not continue at this batch's seq: it commits alone, then the feeder catches up.
    const later = await store.add(row);
    assert.equal(log.size, 0);
    for (const r of [...rows, later]) feeder.add(r);
    feeder.flush();
    assert.equal(log.size, 4);
    assert.equal((await store.add(row)).seq, 4);
    assert.equal(log.size, 5);
    assert.deepEqual(log.root(), rootOf(5));
  });
});
