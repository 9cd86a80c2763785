// The TelemetryStore's behaviour (telemetry/store.ts doc comments), run over the SQLite store and
// the PostgreSQL one (a fresh database per test on a real server: test/fixtures/pg.ts).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { PgStore } from '../../src/store/pg.ts';
import { PgTelemetryStore } from '../../src/store/pg-telemetry.ts';
import { type ChainState, SqliteTelemetryStore, type TelemetryStore } from '../../src/telemetry/store.ts';

type Factory = (retain: number) => Promise<{ store: TelemetryStore; close(): Promise<void> }>;

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

const head = (n: number) => new Uint8Array(32).fill(n);
const state = (nextSeq: number, chain = 0): ChainState => ({
  chain,
  nextSeq,
  head: head(nextSeq),
  restarts: chain,
});
const batch = (seq: number, ts: number[], chain = 0) => ({
  chain,
  seq,
  head: head(seq + 1),
  gpu: ts.map((t) => ({ t, gpu: 0, powerW: t })),
});

function suite(name: string, open: Factory, skipIt: string | false): void {
  const it = (title: string, retain: number, fn: (s: TelemetryStore) => Promise<void>) =>
    test(`${name}: ${title}`, { skip: skipIt }, async () => {
      const { store, close } = await open(retain);
      try {
        await fn(store);
      } finally {
        await close();
      }
    });

  it('append is a compare-and-set on the chain state: of two from one state, one stores', 1000, async (s) => {
    assert.equal(await s.chain('a'), undefined);
    assert.equal(await s.append('a', undefined, state(1), [batch(0, [1, 2])]), true);
    assert.equal(await s.append('a', undefined, state(1), [batch(0, [1, 2])]), false, 'state moved');
    assert.deepEqual(await s.chain('a'), state(1));
    const racers = await Promise.all([
      s.append('a', state(1), state(2), [batch(1, [3])]),
      s.append('a', state(1), state(2), [batch(1, [3])]),
    ]);
    assert.deepEqual(racers.sort(), [false, true]);
    assert.equal(await s.append('a', state(5), state(6), [batch(5, [9])]), false, 'a stale expectation');
    const heads = await s.batchHeads('a', 0, [0, 1, 7]);
    assert.deepEqual([...heads.keys()].sort(), [0, 1]);
    assert.deepEqual(heads.get(1), head(2));
    assert.deepEqual(
      (await s.window('a', 0, 0, 100)).map((x) => x.t),
      [1, 2, 3],
      'samples of the losing push are not stored',
    );
  });

  it('window: the samples inside, plus the last before and the first after', 1000, async (s) => {
    await s.append('a', undefined, state(1), [batch(0, [10, 20, 30, 40, 50])]);
    await s.append('b', undefined, state(1), [batch(0, [25])]);
    assert.deepEqual(
      (await s.window('a', 0, 25, 35)).map((x) => x.t),
      [20, 30, 40],
    );
    assert.deepEqual(
      (await s.window('a', 0, 60, 70)).map((x) => x.t),
      [50],
    );
    assert.deepEqual(await s.window('a', 1, 0, 100), [], 'another GPU');
    assert.deepEqual((await s.window('a', 0, 30, 30))[1], { t: 30, gpu: 0, powerW: 30 }, 'the stored JSON');
  });

  // The cut is the t of the retain-th newest sample, kept (ties at the cut are kept).
  it('retention keeps the newest samples when nextSeq crosses a multiple of 64', 3, async (s) => {
    await s.append('a', undefined, state(63), [batch(62, [1, 2, 3, 4, 5, 6])]);
    assert.deepEqual(
      (await s.window('a', 0, 0, 100)).map((x) => x.t),
      [4, 5, 6],
      'a new chain: retention ran',
    );
    await s.append('a', state(63), state(64), [batch(63, [7, 8])]);
    assert.deepEqual(
      (await s.window('a', 0, 0, 100)).map((x) => x.t),
      [6, 7, 8],
    );
    await s.append('a', state(64), state(65), [batch(64, [9])]);
    assert.equal((await s.window('a', 0, 0, 100)).length, 4, 'not due: nothing dropped');
  });

  it('spans: the first record of an id is kept; overlapping spans come back', 1000, async (s) => {
    const span = (id: string, start: number, end: number) => ({
      id,
      start,
      firstToken: null,
      end,
      tokens: 3,
    });
    await s.spans('a', span('x', 1000, 2000));
    await s.spans('a', span('x', 5000, 6000));
    await s.spans('b', span('y', 1500, 1800));
    const got = await s.spans('a', span('z', 1500, 2500));
    assert.deepEqual(got.map((g) => g.id).sort(), ['x', 'z']);
    assert.deepEqual(
      got.find((g) => g.id === 'x'),
      span('x', 1000, 2000),
    );
    const later = await s.spans('a', span('w', 1000 + 90_000_000, 1000 + 90_000_001));
    assert.deepEqual(
      later.map((g) => g.id),
      ['w'],
      'a day later the old ones are gone',
    );
  });
}

suite(
  'sqlite',
  async (retain) => {
    const store = new SqliteTelemetryStore(':memory:', retain);
    return { store, close: () => store.close() };
  },
  false,
);

suite(
  'postgres',
  async (retain) => {
    const main = await PgStore.open(await pg!.newDatabase(), { max: 3 });
    const store = await PgTelemetryStore.open(main.sql, retain);
    return {
      store,
      async close() {
        await store.close();
        await main.close();
      },
    };
  },
  skip,
);
