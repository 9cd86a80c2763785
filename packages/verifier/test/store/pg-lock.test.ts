// The per-agent lock across processes (store/pg-lock.ts) on a real PostgreSQL server: two lock
// instances with their own pools play two verifier processes on one database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { pgPool, transaction } from '../../src/store/pg-connect.ts';
import { PgAgentLock } from '../../src/store/pg-lock.ts';

const skip = pgSkip();
let pg: PgServer | undefined;
let url = '';
before(async () => {
  if (skip !== false) return;
  pg = await startPg();
  url = await pg.newDatabase();
});
after(() => pg?.close());

function lock(t: { after(fn: () => unknown): void }, max = 4): PgAgentLock {
  const l = new PgAgentLock(pgPool(url, { max }, 'tmb-verifier-lock'));
  t.after(() => l.close());
  return l;
}

/** A promise with its resolve, for gates a test opens itself. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

/** Rejects when `p` takes longer than a bound that only a deadlock would reach. */
function bounded<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms (deadlock?)`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

test('two lock instances on one database run one agent alone, in turn', { skip }, async (t) => {
  const [a, b] = [lock(t), lock(t)];
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  let inside = 0;
  let most = 0;
  const work = async () => {
    inside++;
    most = Math.max(most, inside);
    for (let i = 0; i < 3; i++) await data`SELECT pg_sleep(0.001)`; // a few real round trips held
    inside--;
  };
  await bounded(
    Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).run('gpu-1', work))),
    'runs',
  );
  assert.equal(most, 1, 'never two runs of one agent at once, across instances');
});

test('two different agents do not wait for each other', { skip }, async (t) => {
  const [a, b] = [lock(t), lock(t)];
  const inA = gate();
  const inB = gate();
  // Each run waits until the other has started: they finish only if both hold their lock at once.
  const ra = a.run('gpu-1', async () => {
    inA.open();
    await inB.promise;
    return 'a';
  });
  const rb = b.run('gpu-2', async () => {
    inB.open();
    await inA.promise;
    return 'b';
  });
  assert.deepEqual(await bounded(Promise.all([ra, rb]), 'two agents'), ['a', 'b']);
});

test('a run that throws releases the lock, and rejects with its error', { skip }, async (t) => {
  const [a, b] = [lock(t), lock(t)];
  await assert.rejects(
    a.run('gpu-1', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(
    await bounded(
      b.run('gpu-1', () => 'free'),
      'after a throw',
    ),
    'free',
  );
  assert.equal(a.size, 0);
});

test('with every lock and store connection in use, many agents still all finish', { skip }, async (t) => {
  const [a, b] = [lock(t, 2), lock(t, 2)];
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  const runs = Array.from({ length: 24 }, (_, i) =>
    (i % 2 ? a : b).run(`agent-${i % 8}`, async () => {
      for (let q = 0; q < 4; q++) await data`SELECT 1`;
      return i;
    }),
  );
  const done = await bounded(Promise.all(runs), 'pool exhaustion');
  assert.equal(done.length, 24);
});

test('a dropped lock connection releases the lock to the other process', { skip }, async (t) => {
  const [a, b] = [lock(t), lock(t)];
  const admin = pgPool(url, { max: 1 }, 'tmb-test-admin');
  t.after(() => admin.end({ timeout: 5 }));
  const held = gate();
  const release = gate();
  const first = a.run('gpu-1', async () => {
    held.open();
    await release.promise;
  });
  const settled = first.then(
    () => 'resolved',
    () => 'rejected',
  );
  await held.promise;
  // Cut the connection that holds the advisory lock, as a crashed process or a network cut would.
  const cut = await admin`SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`;
  assert.equal(cut.length, 1);
  assert.equal(
    await bounded(
      b.run('gpu-1', () => 'taken'),
      'after the drop',
    ),
    'taken',
  );
  release.open();
  assert.equal(await bounded(settled, 'the cut run'), 'rejected', 'the cut run says so');
});

test('a store connection dropped inside a transaction rejects it; the process carries on', {
  skip,
}, async (t) => {
  const data = pgPool(url, { max: 2 });
  const admin = pgPool(url, { max: 1 }, 'tmb-test-admin');
  t.after(() => Promise.all([data.end({ timeout: 5 }), admin.end({ timeout: 5 })]));
  const started = gate();
  let pid = 0;
  const tx = transaction(data, async (sql) => {
    pid = (await sql`SELECT pg_backend_pid() AS pid`)[0]!.pid as number;
    started.open();
    await sql`SELECT pg_sleep(30)`; // in flight when its backend is cut
  });
  const outcome = tx.then(
    () => 'resolved',
    (e: unknown) => String((e as { code?: unknown }).code),
  );
  await started.promise;
  await admin`SELECT pg_terminate_backend(${pid})`;
  assert.match(await bounded(outcome, 'the cut transaction'), /^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
  // Still alive, and the pool still answers (postgres.js 3.4.9 would have thrown from a
  // setImmediate by now had the ROLLBACK been written to the closed socket).
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...(await bounded(data`SELECT 1 AS one`, 'a query after'))], [{ one: 1 }]);
});
