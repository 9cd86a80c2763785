// The agent's attestation state in two rows (attest/state.ts): the members each quote changes in
// the agent's row, the others in a cold row written only when they change, with it, atomically.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type AgentAttest, loadAttest, saveAttest } from '../../src/attest/state.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';
import { attestState } from './state-fixture.ts';

async function openStore(t: { after: (f: () => unknown) => void }): Promise<SqliteStore> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-state-'));
  const store = new SqliteStore(join(dir, 'v.db'));
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

/** The store, recording the keys of each write (one entry per statement). */
function counting(s: Store): { store: Store; writes: string[][] } {
  const writes: string[][] = [];
  const store = new Proxy(s, {
    get(target, p) {
      if (p === 'putAttest')
        return (k: string, v: string) => {
          writes.push([k]);
          return target.putAttest(k, v);
        };
      if (p === 'putAttestRows')
        return (rows: [string, string][]) => {
          writes.push(rows.map(([k]) => k));
          return target.putAttestRows(rows);
        };
      const v = Reflect.get(target, p);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store, writes };
}

/** The state these tests save: with an EK certificate, so that the cold row is the larger. */
const state = (o: Partial<AgentAttest> = {}): AgentAttest =>
  attestState({ ekCertificate: 'cert'.repeat(100), ...o });

test('a quote rewrites only the agent row; a change of a cold member writes both rows in one statement', async (t) => {
  const { store, writes } = counting(await openStore(t));
  await saveAttest(store, 'gpu-1', state());
  assert.deepEqual(writes, [['gpu-1', 'cold gpu-1']], 'the first save writes both rows at once');
  const s1 = (await loadAttest(store, 'gpu-1'))!;
  assert.deepEqual(s1, state());
  writes.length = 0;
  await saveAttest(store, 'gpu-1', { ...s1, acceptedAt: 5 }, s1);
  assert.deepEqual(writes, [['gpu-1']], 'a change of what a quote changes writes the agent row only');
  assert.ok(!(await store.getAttest('gpu-1'))!.includes('cert'), 'the agent row holds no cold member');
  const s2 = (await loadAttest(store, 'gpu-1'))!;
  assert.equal(s2.acceptedAt, 5);
  writes.length = 0;
  await saveAttest(store, 'gpu-1', { ...s2, pcr: 14, checkpointKeys: [] }, s2);
  assert.deepEqual(writes, [['gpu-1', 'cold gpu-1']]);
  assert.deepEqual(await loadAttest(store, 'gpu-1'), state({ pcr: 14, acceptedAt: 5 }));
  writes.length = 0;
  await saveAttest(store, 'gpu-1', state({ acceptedAt: 6 }));
  assert.deepEqual(writes, [['gpu-1', 'cold gpu-1']], 'no loaded state to compare with: both rows');
  assert.deepEqual(await loadAttest(store, 'gpu-1'), state({ acceptedAt: 6 }));
});

test('a row saved whole (before the split) reads as it was written, and is split on its next save', async (t) => {
  const store = await openStore(t);
  await store.putAttest('gpu-1', JSON.stringify(state({ acceptedAt: 9 })));
  const s = (await loadAttest(store, 'gpu-1'))!;
  assert.deepEqual(s, state({ acceptedAt: 9 }));
  await saveAttest(store, 'gpu-1', { ...s, acceptedAt: 10 }, s);
  assert.ok((await store.getAttest('cold gpu-1')) !== undefined);
  assert.deepEqual(await loadAttest(store, 'gpu-1'), state({ acceptedAt: 10 }));
});

test('an agent row that names a cold row which is not there is a store failure, not a state', async (t) => {
  const store = await openStore(t);
  await store.putAttest('gpu-1', JSON.stringify({ cold: 1, acceptedAt: 3 }));
  await assert.rejects(
    loadAttest(store, 'gpu-1'),
    (e: unknown) => (e as { code?: string }).code === 'STORE_FAILED',
  );
  assert.equal(await loadAttest(store, 'gpu-2'), undefined);
});
