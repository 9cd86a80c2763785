// One behaviour suite (conformance.ts) over every Store: SQLite (a temp file) and PostgreSQL (a
// fresh database per test on a real server: test/fixtures/pg.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { PgStore } from '../../src/store/pg.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { storeConformance } from './conformance.ts';

storeConformance('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-conf-'));
  const store = new SqliteStore(join(dir, 'v.db'));
  return {
    store,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

storeConformance(
  'postgres',
  async () => {
    const store = await PgStore.open(await pg!.newDatabase(), { max: 4 });
    return { store, close: () => store.close() };
  },
  skip,
);
