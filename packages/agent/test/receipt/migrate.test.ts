import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { utf8 } from '@tmb/core';
import { leafHash, MemoryTree, nodeHash, signCheckpoint } from '@tmb/core/log';
import { LogFeeder } from '../../src/log/feeder.ts';
import { checkpointSigner } from '../../src/log/note.ts';
import { LOG_STEPS } from '../../src/log/schema.ts';
import { ReceiptLog } from '../../src/log/tree.ts';
import { generateAgentKey } from '../../src/receipt/key.ts';
import { RECEIPT_STEPS } from '../../src/receipt/schema.ts';
import { ReceiptStore } from '../../src/receipt/store.ts';

const V1_SQL = readFileSync(new URL('./fixtures/receipts-v1.sql', import.meta.url), 'utf8');
const ORIGIN = 'tmb/agent/old';
const body = (seq: number) => utf8(`old receipt ${seq}`);

const rethrow = (err: unknown): void => {
  throw err;
};

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-migrate-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A database as today's agent (before schema versions) leaves it: `n` receipts, their log nodes
 * in the old layout, one checkpoint over them, log_meta format 1, user_version 0.
 */
async function oldDatabase(path: string, n: number, receipts = true): Promise<Uint8Array> {
  const db = new DatabaseSync(path);
  db.exec(V1_SQL);
  db.exec("INSERT INTO log_meta (key, value) VALUES ('format', 1)");
  if (receipts) {
    db.prepare(
      'INSERT INTO keys (key_id, public_key, proof, created_us, enrolled) VALUES (?, ?, ?, ?, 1)',
    ).run('k', new Uint8Array(32), new Uint8Array(64), 0);
    const put = db.prepare(
      'INSERT INTO receipts (seq, id, request_id, key_id, body, sig, pushed) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (let s = 0; s < n; s++)
      put.run(s, `id-${s}`, `req-${s}`, 'k', body(s), new Uint8Array(64), s < 2 ? 1 : 0);
  }
  // Every complete subtree, as the old append wrote them.
  const node = db.prepare('INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)');
  const frontier: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    let h = leafHash(body(i));
    let idx = i;
    let level = 0;
    node.run(0, idx, h);
    while (idx % 2 === 1) {
      h = nodeHash(frontier[level]!, h);
      level++;
      idx = (idx - 1) / 2;
      node.run(level, idx, h);
    }
    frontier[level] = h;
  }
  const root = new MemoryTree(Array.from({ length: n }, (_, i) => leafHash(body(i)))).root();
  const note = await signCheckpoint({ origin: ORIGIN, size: n, root, extensions: [] }, [
    checkpointSigner(ORIGIN, generateAgentKey('old')),
  ]);
  db.prepare('INSERT INTO log_checkpoints (size, root, note) VALUES (?, ?, ?)').run(n, root, note);
  db.close();
  return root;
}

const userVersion = (db: DatabaseSync) =>
  (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;

test('the store and log steps keep one version number for receipts.db', () => {
  assert.equal(RECEIPT_STEPS.length, LOG_STEPS.length);
  assert.equal(RECEIPT_STEPS.length, 3);
});

test("a receipts.db made with today's schema opens as version 1, migrates to the newest and keeps its receipts, tree and checkpoint", async () => {
  await withDir(async (dir) => {
    const root = await oldDatabase(join(dir, 'receipts.db'), 5);
    const store = new ReceiptStore(dir);
    try {
      assert.equal(userVersion(store.db), 3);
      const index = store.db.prepare("SELECT 1 AS x FROM sqlite_master WHERE name = 'receipts_request'");
      assert.equal(index.get(), undefined, 'version 3 dropped the unused request-id index');
      assert.equal(store.nextSeq(), 5);
      assert.equal(store.pendingCount(), 3);
      assert.equal(store.byId('id-4')?.requestId, 'req-4');
      const log = ReceiptLog.open(store.db);
      assert.deepEqual(log.run, { run: 0, base: 0 });
      assert.equal(log.size, 5);
      assert.deepEqual(log.root(), root);
      const cp = log.latestCheckpoint();
      assert.equal(cp?.run, 0);
      assert.equal(cp?.base, 0);
      assert.equal(log.audit(true).ok, true);
      assert.deepEqual(
        log.runs().map((r) => [r.run, r.base, r.size]),
        [[0, 0, 5]],
      );
      // The log goes on from there.
      const feeder = new LogFeeder(log, store, rethrow);
      const row = await store.add((seq) => ({
        seq,
        id: 'new',
        requestId: 'new',
        keyId: 'k',
        body: body(seq),
        sig: new Uint8Array(64),
      }));
      assert.equal(row.seq, 5);
      feeder.add(row);
      feeder.flush();
      assert.deepEqual(
        log.root(),
        new MemoryTree(Array.from({ length: 6 }, (_, i) => leafHash(body(i)))).root(),
      );
      const format = store.db.prepare("SELECT value FROM log_meta WHERE key = 'format'").get() as {
        value: number;
      };
      assert.equal(format.value, 2, 'a build older than versions refuses the file (its format check)');
    } finally {
      await store.close();
    }
  });
});

test("a log file of its own made with today's schema is migrated by ReceiptLog.open", async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'log.db');
    const root = await oldDatabase(path, 9, false);
    const log = ReceiptLog.open(path);
    try {
      assert.equal(log.size, 9);
      assert.deepEqual(log.root(), root);
      assert.equal(log.audit(true).ok, true);
    } finally {
      log.close();
    }
    const db = new DatabaseSync(path);
    assert.equal(userVersion(db), LOG_STEPS.length);
    db.close();
  });
});

test('a file from a newer build is refused with STORE_SCHEMA_TOO_NEW and left as it was', async () => {
  await withDir(async (dir) => {
    {
      const store = new ReceiptStore(dir);
      await store.close();
    }
    const path = join(dir, 'receipts.db');
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 4');
    db.close();
    assert.throws(() => new ReceiptStore(dir), { code: 'STORE_SCHEMA_TOO_NEW' });
    assert.throws(() => ReceiptLog.open(path), { code: 'STORE_SCHEMA_TOO_NEW' });
    const again = new DatabaseSync(path);
    assert.equal(userVersion(again), 4);
    again.close();
  });
});

test('a new receipts.db starts at the newest version with run 0', async () => {
  await withDir(async (dir) => {
    const store = new ReceiptStore(dir);
    try {
      assert.equal(userVersion(store.db), RECEIPT_STEPS.length);
      const log = ReceiptLog.open(store.db);
      assert.deepEqual(
        log.runs().map((r) => [r.run, r.base, r.reason]),
        [[0, 0, 'the first run']],
      );
    } finally {
      await store.close();
    }
  });
});
