import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { SqliteStore, type StoredReceipt, VerifierError } from '@tmb/verifier';

const receipt = (id: string, requestId: string, at: number, byte = 1): StoredReceipt => ({
  id,
  requestId,
  agent: 'a',
  keyId: 'k',
  body: new Uint8Array([byte, 2, 3]),
  sig: new Uint8Array(64),
  receivedAt: at,
});

test('keys and receipts survive a reopen; the file is in WAL mode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-store-'));
  try {
    const path = join(dir, 'v.db');
    const s = new SqliteStore(path);
    assert.equal(await s.addKey({ agent: 'a', keyId: 'k', key: new Uint8Array(32), enrolledAt: 5 }), true);
    assert.equal(await s.addKey({ agent: 'b', keyId: 'k', key: new Uint8Array(32), enrolledAt: 6 }), false);
    assert.deepEqual(await s.putReceipts([receipt('r1', 'q', 2), receipt('r2', 'q', 1)]), [
      'inserted',
      'inserted',
    ]);
    await s.close();
    const again = new SqliteStore(path);
    assert.equal((await again.getKey('k'))?.agent, 'a');
    assert.deepEqual(
      (await again.byRequestId('q', 10)).map((r) => r.id),
      ['r2', 'r1'],
      'oldest first',
    );
    const dup = await again.putReceipts([receipt('r1', 'q', 9, 7), receipt('r3', 'x', 9)]);
    assert.equal(dup[1], 'inserted');
    assert.deepEqual(
      (dup[0] as StoredReceipt).body,
      new Uint8Array([1, 2, 3]),
      'the stored bytes, not the new ones',
    );
    await again.close();
    const raw = new DatabaseSync(path);
    assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    raw.close();
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('a store that cannot be opened throws STORE_FAILED', () => {
  assert.throws(
    () => new SqliteStore('/nonexistent-dir/x/v.db'),
    (e: unknown) => e instanceof VerifierError && e.code === 'STORE_FAILED',
  );
});

test('a log position holds one receipt; each key keeps the first position it holds; keys list in enrolment order', async () => {
  const s = new SqliteStore(':memory:');
  try {
    await s.addKey({ agent: 'a', keyId: 'k2', key: new Uint8Array(32), enrolledAt: 9 });
    await s.addKey({ agent: 'a', keyId: 'k1', key: new Uint8Array(32), enrolledAt: 3 });
    await s.addKey({ agent: 'b', keyId: 'k3', key: new Uint8Array(32), enrolledAt: 1 });
    assert.deepEqual(
      (await s.agentKeys('a')).map((k) => k.keyId),
      ['k1', 'k2'],
    );
    const at = (id: string, seq: number, keyId = 'k1', byte = seq) => ({
      ...receipt(id, 'q', 1, byte),
      keyId,
      seq,
    });
    assert.deepEqual(
      await s.putReceipts([at('r5', 5), at('r3', 3), at('x3', 3, 'k1', 99), at('r6', 6, 'k2')]),
      ['inserted', 'inserted', 'seq-taken', 'inserted'],
    );
    assert.equal(await s.getReceipt('x3'), undefined, 'a refused receipt is not stored');
    assert.deepEqual([...(await s.firstSeqs('a'))].sort(), [
      ['k1', 3],
      ['k2', 6],
    ]);
    assert.deepEqual([...(await s.firstSeqs('b'))], []);
  } finally {
    await s.close();
  }
});

test('an AK replacement permission is used up by the one activation that takes it', async () => {
  const s = new SqliteStore(':memory:');
  try {
    assert.equal(await s.takeAkAllowance('a'), false);
    await s.allowAkReplacement('a', 1);
    await s.allowAkReplacement('a', 2);
    assert.equal(await s.takeAkAllowance('b'), false);
    assert.equal(await s.takeAkAllowance('a'), true);
    assert.equal(await s.takeAkAllowance('a'), false);
  } finally {
    await s.close();
  }
});
