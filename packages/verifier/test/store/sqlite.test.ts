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
