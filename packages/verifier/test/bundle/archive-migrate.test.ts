// The bundle archive's move (schema step: bundle_quotes, issue 12) from the previous layout, where
// each accepted quote was an attestation row `bundle <agent> <n>` and a per-agent index row
// `bundle <agent>` listed each boot's seq ends: a database written that way keeps serving its
// bundles, on SQLite and on PostgreSQL.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { migrate } from '@tmb/core/store';
import postgres from 'postgres';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { BundleArchive } from '../../src/bundle/archive.ts';
import { PgStore } from '../../src/store/pg.ts';
import { migratePg } from '../../src/store/pg-migrate.ts';
import { PG_VERIFIER_MIGRATIONS } from '../../src/store/pg-schema.ts';
import { SqliteStore, VERIFIER_MIGRATIONS } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/types.ts';

/** A quote row as the previous archive wrote it (only the members judging reads matter here). */
const quote = (size: number, resetCount: number, base?: number) =>
  JSON.stringify({ size, resetCount, ...(base === undefined ? {} : { run: 1, base }), note: `n${size}` });

/**
 * The previous layout's rows: agent gpu-1 with two boots (quotes 0, 1 then 2, 3), gpu-2 whose
 * index names a quote row that was never written (its write failed), and an unrelated state row.
 */
const OLD_ROWS: [string, string][] = [
  [
    'bundle gpu-1',
    JSON.stringify({
      next: 4,
      boots: [
        { resetCount: 1, first: 0, sizes: [3, 7] },
        { resetCount: 2, first: 2, sizes: [10, 14] },
      ],
    }),
  ],
  ['bundle gpu-1 0', quote(3, 1)],
  ['bundle gpu-1 1', quote(7, 1)],
  ['bundle gpu-1 2', quote(10, 2)],
  ['bundle gpu-1 3', quote(14, 2)],
  ['bundle gpu-2', JSON.stringify({ next: 2, boots: [{ resetCount: 0, first: 0, sizes: [2, 4] }] })],
  ['bundle gpu-2 1', quote(4, 0)],
  ['gpu-1', '{"state":1}'],
];

async function servesOldBundles(store: Store): Promise<void> {
  const archive = new BundleArchive(store);
  const sizes = async (agent: string, seq: number) =>
    (await archive.judging(agent, seq))?.map((q) => q.size) ?? null;
  assert.deepEqual(await sizes('gpu-1', 0), [3]);
  assert.deepEqual(await sizes('gpu-1', 5), [3, 7]);
  assert.deepEqual(await sizes('gpu-1', 7), [10], 'the second boot starts afresh');
  assert.deepEqual(await sizes('gpu-1', 12), [10, 14]);
  assert.equal(await sizes('gpu-1', 14), null, 'no quote covers it yet');
  assert.equal(await sizes('gpu-2', 3), null, 'a boot missing a quote serves no bundle');
  assert.equal(await store.getAttest('bundle gpu-1'), undefined, 'the old rows are gone');
  assert.equal(await store.getAttest('bundle gpu-1 3'), undefined);
  assert.equal(await store.getAttest('gpu-1'), '{"state":1}', 'other rows are kept');
  // The archive goes on from the moved rows: the next quote of boot 2 is n 4.
  assert.deepEqual(
    await store.appendArchived('gpu-1', { resetCount: 2, seqEnd: 20, fresh: false, quote: quote(20, 2) }, 16),
    { n: 4, boot: 2 },
  );
  assert.deepEqual(await sizes('gpu-1', 15), [10, 14, 20]);
}

test('sqlite: a database of the previous archive layout keeps serving its bundles', async (t) => {
  const c = closers(t);
  const dir = await c.dir('tmb-archive-mig-');
  const path = join(dir, 'v.db');
  const old = new DatabaseSync(path);
  const steps = VERIFIER_MIGRATIONS.findIndex((m) => m.description.startsWith('bundle archive'));
  assert.ok(steps > 0);
  migrate(old, VERIFIER_MIGRATIONS.slice(0, steps), { store: 'verifier' });
  const put = old.prepare('INSERT INTO attest_agents (agent, state) VALUES (?, ?)');
  for (const [k, v] of OLD_ROWS) put.run(k, v);
  old.close();
  const store = new SqliteStore(path);
  c.add(() => store.close(), 'store');
  assert.deepEqual(store.schema, { from: steps, to: VERIFIER_MIGRATIONS.length });
  await servesOldBundles(store);
});

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

test('postgres: a database of the previous archive layout keeps serving its bundles', { skip }, async (t) => {
  const url = await pg!.newDatabase();
  const steps = PG_VERIFIER_MIGRATIONS.findIndex((m) => m.description.startsWith('bundle archive'));
  assert.ok(steps > 0);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migratePg(sql, PG_VERIFIER_MIGRATIONS.slice(0, steps), { store: 'verifier' });
    for (const [k, v] of OLD_ROWS) await sql`INSERT INTO attest_agents (agent, state) VALUES (${k}, ${v})`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  const store = await PgStore.open(url, { max: 2 });
  t.after(() => store.close());
  assert.deepEqual(store.schema, { from: steps, to: PG_VERIFIER_MIGRATIONS.length });
  await servesOldBundles(store);
});
