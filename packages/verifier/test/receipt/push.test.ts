import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBase64Url } from '@tmb/core';
import { VerifierError } from '../../src/errors.ts';
import { KeyedLock } from '../../src/lock.ts';
import { enrolAgentKey } from '../../src/receipt/keys.ts';
import { pushReceipts } from '../../src/receipt/push.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { KeyRecord } from '../../src/store/types.ts';
import { Waiters } from '../../src/waiters.ts';
import { enrolBody, newKey, receiptBody, signBody } from '../fixtures.ts';

/** The services' plain inputs: a store, a lock, a key cache, waiters and a fixed clock. */
function parts(t: { after(f: () => Promise<void>): void }) {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  return {
    store,
    lock: new KeyedLock(),
    keys: new Map<string, KeyRecord>(),
    waiters: new Waiters(),
    now: () => 1_700_000_000_000,
  };
}

test('a key enrols and a batch is stored by plain calls, with no HTTP request', async (t) => {
  const d = parts(t);
  const k = newKey('gpu-1');
  const e = enrolBody(k);
  const keyId = await enrolAgentKey(d, 'gpu-1', fromBase64Url(e.key), fromBase64Url(e.proof));
  assert.equal(keyId, k.keyId);
  assert.equal((await d.store.getKey(keyId))?.enrolledAt, 1_700_000_000_000);
  const good = signBody(k, receiptBody(k));
  const first = await pushReceipts(d, 'gpu-1', [good, { not: 'a receipt' }]);
  assert.equal(first.accepted, 1);
  assert.deepEqual(
    first.rejected.map((r) => [r.index, r.code]),
    [[1, 'RECEIPT_MALFORMED']],
  );
  assert.deepEqual(await pushReceipts(d, 'gpu-1', [good]), { accepted: 0, duplicate: 1, rejected: [] });
});

test('plain calls refuse what HTTP refuses: a bad proof, another agent, a key of another agent', async (t) => {
  const d = parts(t);
  const k = newKey('gpu-1');
  const e = enrolBody(k, 'gpu-2');
  await assert.rejects(
    enrolAgentKey(d, 'gpu-1', fromBase64Url(e.key), fromBase64Url(e.proof)),
    (err: unknown) => err instanceof VerifierError && err.code === 'ENROL_PROOF_INVALID',
  );
  const ok = enrolBody(k);
  await enrolAgentKey(d, 'gpu-1', fromBase64Url(ok.key), fromBase64Url(ok.proof));
  const r = await pushReceipts(d, 'gpu-2', [signBody(k, receiptBody(k))]);
  assert.deepEqual(
    r.rejected.map((x) => x.code),
    ['AGENT_KEY_NOT_ENROLLED'],
  );
});
