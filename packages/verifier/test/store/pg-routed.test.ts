// The store under the agent lock on PostgreSQL (store/pg-route.ts): what a locked run writes
// through PgStore commits with the lock's transaction, except the rows the process caches by
// what it wrote (compare-and-set rows), which commit as they are made.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { openStore } from '../../src/store/open.ts';
import { PgStore } from '../../src/store/pg.ts';
import { pgPool } from '../../src/store/pg-connect.ts';

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

async function opened(t: { after(fn: () => unknown): void }) {
  const url = await pg!.newDatabase();
  const o = await openStore({ dbPath: ':memory:', databaseUrl: url, databasePool: { max: 2 } });
  const other = pgPool(url, { max: 1 }, 'tmb-test-reader');
  t.after(async () => {
    await other.end({ timeout: 5 });
    await o.close();
  });
  assert.ok(o.store instanceof PgStore);
  const seen = async (key: string) =>
    (await other`SELECT state FROM attest_agents WHERE agent = ${key}`)[0]?.state as string | undefined;
  return { store: o.store, lock: o.lock, seen };
}

test('a locked run: state rows are seen at its end, a compare-and-set row as it is made', {
  skip,
}, async (t) => {
  const { store, lock, seen } = await opened(t);
  assert.equal(lock.atomic, true);
  const during = await lock.run('gpu-1', async () => {
    await store.putAttest('gpu-1', 'hot');
    assert.equal(await store.putAttestIf('segments gpu-1', 'seg', 0), 1);
    // Read inside the run: its own write is there.
    assert.equal(await store.getAttest('gpu-1'), 'hot');
    return { state: await seen('gpu-1'), segments: await seen('segments gpu-1') };
  });
  assert.deepEqual(during, { state: undefined, segments: 'seg' }, 'from another connection, during the run');
  assert.equal(await seen('gpu-1'), 'hot', 'after the run');
});

test('a locked run that throws leaves its state rows unwritten; its compare-and-set row stays', {
  skip,
}, async (t) => {
  const { store, lock, seen } = await opened(t);
  await assert.rejects(
    lock.run('gpu-2', async () => {
      await store.putAttest('gpu-2', 'hot');
      await store.putAttestIf('segments gpu-2', 'seg', 0);
      throw new Error('appraisal failed');
    }),
    /appraisal failed/,
  );
  assert.equal(await seen('gpu-2'), undefined);
  // The version its writer cached (1) is the version in the database: no other content can
  // take version 1 of that row now.
  assert.deepEqual(await store.readAttest('segments gpu-2', 1), { version: 1 });
});
