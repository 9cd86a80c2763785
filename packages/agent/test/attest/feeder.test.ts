import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utf8 } from '@tmb/core';
import { leafHash, MemoryTree } from '@tmb/core/log';
import { LogFeeder } from '../../src/attest/feeder.ts';
import { ReceiptLog } from '../../src/log/store.ts';
import { ReceiptStore, type StoredReceipt } from '../../src/store/store.ts';

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

async function withStore(fn: (store: ReceiptStore, log: ReceiptLog) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-feeder-'));
  const store = new ReceiptStore(dir);
  store.addKey({ keyId: 'k', publicKey: new Uint8Array(32), proof: new Uint8Array(64) }, 0);
  try {
    await fn(store, ReceiptLog.open(store.db));
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const rootOf = (n: number) =>
  new MemoryTree(Array.from({ length: n }, (_, i) => leafHash(row(i).body))).root();

test('receipts committed in one turn are appended in seq order, leaf i = receipt seq i', async () => {
  await withStore(async (store, log) => {
    const errors: unknown[] = [];
    const feeder = new LogFeeder(log, store, (e) => errors.push(e));
    const rows = [2, 0, 1].map(row);
    await Promise.all(rows.map((r) => store.add(r)));
    for (const r of rows) feeder.add(r);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, []);
    assert.equal(log.size, 3);
    assert.deepEqual(log.root(), rootOf(3));
  });
});

test('after a crash between store and log, catchUp appends the stored receipts the log lacks', async () => {
  await withStore(async (store, log) => {
    for (const r of [0, 1, 2, 3].map(row)) await store.add(r);
    log.append([row(0).body], 0); // only the first reached the log before the "crash"
    const feeder = new LogFeeder(log, store, () => {});
    assert.equal(feeder.catchUp(), 3);
    assert.deepEqual(log.root(), rootOf(4));
    assert.equal(feeder.catchUp(), 0);
  });
});

test('a burnt seq stops the log: no receipt lands at another index than its seq', async () => {
  await withStore(async (store, log) => {
    for (const r of [0, 2].map(row)) await store.add(r);
    const feeder = new LogFeeder(log, store, () => {});
    assert.equal(feeder.catchUp(), 1);
    assert.equal(log.size, 1);
  });
});
