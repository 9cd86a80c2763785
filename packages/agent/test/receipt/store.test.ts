import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkSignedReceipt, openSignedReceipt, toSignedReceipt } from '@tmb/core';
import { generateAgentKey } from '../../src/receipt/key.ts';
import { type ReceiptFields, ReceiptSigner } from '../../src/receipt/sign.ts';
import { ReceiptStore, type StoredReceipt } from '../../src/receipt/store.ts';

function fields(requestId: string, path = '/v1/chat/completions'): ReceiptFields {
  const t = 1_700_000_000_000_000;
  return {
    id: randomBytes(16).toString('hex'),
    request: { id: requestId, method: 'POST', path, bytes: 10, sha256: 'ab'.repeat(32) },
    response: { status: 200, upstreamStatus: 200, stream: false, bytes: 20, sha256: 'cd'.repeat(32) },
    model: { requested: 'm', reported: 'm' },
    usage: { prompt: 1, completion: 2, total: 3 },
    time: { start: t, firstByte: t + 1, end: t + 2 },
    outcome: 'complete',
    client: { nonce: null },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-store-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function seqs(store: ReceiptStore): number[] {
  return store.db
    .prepare('SELECT seq FROM receipts ORDER BY seq')
    .all()
    .map((r) => r.seq as number);
}

/** The receipt's own seq, read from its signed body, and that its signature holds. */
function signedSeq(signer: ReceiptSigner, row: StoredReceipt): number {
  const check = checkSignedReceipt(toSignedReceipt(row.body, row.sig), (k) =>
    k === signer.key.keyId ? signer.key.publicKey : undefined,
  );
  assert.ok(
    check.checks.every((c) => c.status === 'pass'),
    JSON.stringify(check.checks),
  );
  return openSignedReceipt(toSignedReceipt(row.body, row.sig)).body.seq;
}

// Fails every insert of a receipt whose request id starts with "boom", inside the batch's transaction.
const BOOM = `CREATE TEMP TRIGGER boom BEFORE INSERT ON receipts WHEN NEW.request_id LIKE 'boom%'
  BEGIN SELECT RAISE(ABORT, 'injected failure'); END`;

test('a batch whose COMMIT fails takes no seq: every caller gets AGENT_STORE_FAILED and the next receipt takes the number', async () => {
  await withDir(async (dir) => {
    const store = new ReceiptStore(dir);
    try {
      const signer = new ReceiptSigner('a', generateAgentKey('a'), store, 0);
      for (let i = 0; i < 3; i++) await signer.issue(fields(`ok-${i}`));
      // Deferred foreign keys: the inserts succeed and the COMMIT itself fails, for this one
      // transaction only (SQLite turns defer_foreign_keys off at its end).
      store.db.exec('PRAGMA foreign_keys = ON; PRAGMA defer_foreign_keys = ON');
      const batch = [
        signer.issue(fields('lost-1')),
        store.add((seq) => ({
          seq,
          id: 'f'.repeat(32),
          requestId: 'orphan',
          keyId: 'no-such-key',
          body: new Uint8Array(1),
          sig: new Uint8Array(64),
        })),
        signer.issue(fields('lost-2')),
      ];
      for (const r of await Promise.allSettled(batch)) {
        assert.equal(r.status, 'rejected');
        assert.equal((r.reason as { code: string }).code, 'AGENT_STORE_FAILED');
      }
      assert.deepEqual(seqs(store), [0, 1, 2]);
      assert.equal(store.nextSeq(), 3);
      const next = await signer.issue(fields('after'));
      assert.equal(next.seq, 3);
      assert.equal(signedSeq(signer, next), 3, 'the signed body names the reused seq');
      assert.deepEqual(seqs(store), [0, 1, 2, 3]);
    } finally {
      await store.close();
    }
  });
});

test('a failed insert mid-batch rolls the counter back, across a restart too', async () => {
  await withDir(async (dir) => {
    {
      const store = new ReceiptStore(dir);
      const signer = new ReceiptSigner('a', generateAgentKey('a'), store, 0);
      await signer.issue(fields('first'));
      store.db.exec(BOOM);
      const batch = ['x-1', 'x-2', 'boom', 'x-3'].map((id) => signer.issue(fields(id)));
      const settled = await Promise.allSettled(batch);
      assert.deepEqual(
        settled.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code),
        Array(4).fill('AGENT_STORE_FAILED'),
        'the receipts before and after the failing one in its batch are refused too',
      );
      assert.equal(store.nextSeq(), 1);
      await store.close();
    }
    const store = new ReceiptStore(dir);
    try {
      assert.equal(store.nextSeq(), 1);
      const signer = new ReceiptSigner('a', generateAgentKey('a'), store, 1);
      const row = await signer.issue(fields('after restart'));
      assert.equal(signedSeq(signer, row), 1);
      assert.deepEqual(seqs(store), [0, 1]);
    } finally {
      await store.close();
    }
  });
});

test('a receipt the encoder refuses takes no number; the rest of its batch commits densely', async () => {
  await withDir(async (dir) => {
    const store = new ReceiptStore(dir);
    try {
      const signer = new ReceiptSigner('a', generateAgentKey('a'), store, 0);
      const bad = { ...fields('bad'), usage: { prompt: -1, completion: 0, total: 0 } };
      const settled = await Promise.allSettled([
        signer.issue(fields('a')),
        signer.issue(bad),
        signer.issue(fields('b')),
      ]);
      assert.equal(settled[1]!.status, 'rejected');
      assert.notEqual((settled[1] as PromiseRejectedResult).reason.code, 'AGENT_STORE_FAILED');
      const ok = settled.filter((r) => r.status === 'fulfilled').map((r) => r.value.seq);
      assert.deepEqual(ok, [0, 1]);
      assert.deepEqual(seqs(store), [0, 1]);
    } finally {
      await store.close();
    }
  });
});

test('issue resolves in seq order with the stored receipt (onStored sees each once, in order)', async () => {
  await withDir(async (dir) => {
    const store = new ReceiptStore(dir);
    try {
      const signer = new ReceiptSigner('a', generateAgentKey('a'), store, 0);
      const seen: number[] = [];
      signer.onStored = (row) => seen.push(row.seq);
      const rows = await Promise.all(Array.from({ length: 50 }, (_, i) => signer.issue(fields(`r${i}`))));
      assert.deepEqual(
        rows.map((r) => r.seq),
        Array.from({ length: 50 }, (_, i) => i),
      );
      assert.deepEqual(
        seen,
        rows.map((r) => r.seq),
      );
      assert.deepEqual(store.byId(rows[7]!.id)?.body, rows[7]!.body);
    } finally {
      await store.close();
    }
  });
});
