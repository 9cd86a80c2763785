import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ReceiptStore } from '@tmb/agent';

test('WAL checkpoints run in the background: the database file fills without an auto-checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-ckpt-'));
  const store = new ReceiptStore(dir);
  try {
    assert.equal(
      (store.db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number })
        .wal_autocheckpoint,
      0,
      'the event loop never checkpoints',
    );
    store.addKey({ keyId: 'k', publicKey: new Uint8Array(32), proof: new Uint8Array(64) }, 0);
    const body = new Uint8Array(4096).fill(0x7b);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        store.add((seq) => ({
          seq,
          id: i.toString(16).padStart(32, '0'),
          requestId: `r${i}`,
          keyId: 'k',
          body,
          sig: new Uint8Array(64),
        })),
      ),
    );
    const before = (await stat(join(dir, 'receipts.db'))).size;
    let after = before;
    // A bound on a hang, not a timing claim: a loaded machine starts the worker thread late.
    for (let i = 0; i < 900 && after < before + 300 * 4096; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await stat(join(dir, 'receipts.db'))).size;
    }
    assert.ok(
      after >= before + 300 * 4096,
      `the checkpointer moved the WAL into the file (${before} -> ${after} bytes)`,
    );
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
