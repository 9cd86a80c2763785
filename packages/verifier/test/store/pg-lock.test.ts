// The per-agent lock across processes (store/pg-lock.ts) on a real PostgreSQL server: two lock
// instances with their own pools play two verifier processes on one database.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { pgPool, type Sql, transaction } from '../../src/store/pg-connect.ts';
import { PgAgentLock } from '../../src/store/pg-lock.ts';
import { via } from '../../src/store/pg-route.ts';

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

/** A lock whose runs route the statements of `store` (a pool playing the store's) into its transaction. */
function routedLock(t: { after(fn: () => unknown): void }, store: Sql, max = 4): PgAgentLock {
  const l = new PgAgentLock(pgPool(url, { max }, 'tmb-verifier-lock'), store);
  t.after(() => l.close());
  return l;
}

test('routed: the store statements of a run go into the lock transaction, after the lock', {
  skip,
}, async (t) => {
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  const a = routedLock(t, data);
  const [inRun] = await a.run('gpu-1', async () => {
    return via(data)`SELECT count(*)::int AS held, now() = statement_timestamp() AS autocommit
      FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()`;
  });
  assert.deepEqual(
    { ...inRun },
    { held: 1, autocommit: false },
    'in the session holding the lock, in its transaction',
  );
  const [outside] = await via(data)`SELECT count(*)::int AS held FROM pg_locks
    WHERE locktype = 'advisory' AND pid = pg_backend_pid()`;
  assert.equal(outside!.held, 0, 'outside a run: the pool');
});

test('routed: two lock instances never lose an update of one agent (read, then write +1)', {
  skip,
}, async (t) => {
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  await data`CREATE TABLE IF NOT EXISTS lock_counter (agent text PRIMARY KEY, n int NOT NULL)`;
  await data`INSERT INTO lock_counter VALUES ('gpu-1', 0) ON CONFLICT (agent) DO UPDATE SET n = 0`;
  const [a, b] = [routedLock(t, data), routedLock(t, data)];
  const bump = async () => {
    const [row] = await via(data)`SELECT n FROM lock_counter WHERE agent = 'gpu-1'`;
    await new Promise((r) => setImmediate(r)); // let the other instance's statements go out
    await via(data)`UPDATE lock_counter SET n = ${(row!.n as number) + 1} WHERE agent = 'gpu-1'`;
  };
  await bounded(
    Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).run('gpu-1', bump))),
    'bumps',
  );
  const [end] = await data`SELECT n FROM lock_counter WHERE agent = 'gpu-1'`;
  assert.equal(end!.n, 16, 'every read-modify-write saw the one before it');
});

test('routed: a run that throws leaves none of its writes', { skip }, async (t) => {
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  await data`CREATE TABLE IF NOT EXISTS lock_rows (agent text, v int)`;
  const a = routedLock(t, data);
  await assert.rejects(
    a.run('gpu-2', async () => {
      await via(data)`INSERT INTO lock_rows VALUES ('gpu-2', 1)`;
      throw new Error('boom after a write');
    }),
    /boom after a write/,
  );
  const rows = await data`SELECT * FROM lock_rows WHERE agent = 'gpu-2'`;
  assert.equal(rows.length, 0);
});

test('routed: a dropped lock connection fails the run; its later statements are refused, not sent', {
  skip,
}, async (t) => {
  const data = pgPool(url, { max: 2 });
  const admin = pgPool(url, { max: 1 }, 'tmb-test-admin');
  t.after(() => Promise.all([data.end({ timeout: 5 }), admin.end({ timeout: 5 })]));
  const [a, b] = [routedLock(t, data), routedLock(t, data)];
  const held = gate();
  const codes: string[] = [];
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'sent',
      (e: unknown) => String((e as { code?: unknown }).code),
    );
  const first = a.run('gpu-3', async () => {
    const pid = (await via(data)`SELECT pg_backend_pid() AS pid`)[0]!.pid as number;
    held.open();
    // In flight when its backend is cut; the run catches that and goes on, as careless code might.
    codes.push(await code(via(data)`SELECT pg_sleep(30), ${pid}::int`));
    codes.push(await code(via(data)`SELECT 2`));
  });
  const settled = code(first);
  await held.promise;
  const cut = await admin`SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`;
  assert.equal(cut.length, 1);
  assert.equal(
    await bounded(
      b.run('gpu-3', () => 'taken'),
      'after the drop',
    ),
    'taken',
  );
  assert.equal(await bounded(settled, 'the cut run'), 'STORE_FAILED');
  assert.match(codes[0] ?? '', /^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
  assert.equal(codes[1], 'STORE_FAILED', 'the statement after the drop was refused, not written');
  // Still alive (a write to the closed socket would have thrown from a setImmediate by now).
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...(await bounded(data`SELECT 1 AS one`, 'a query after'))], [{ one: 1 }]);
});

test('routed: a run that cannot get the lock in time rejects, and its statements never ran', {
  skip,
}, async (t) => {
  const data = pgPool(url, { max: 2 });
  t.after(() => data.end({ timeout: 5 }));
  await data`CREATE TABLE IF NOT EXISTS lock_rows (agent text, v int)`;
  const holder = routedLock(t, data);
  const impatient = new PgAgentLock(
    pgPool(url, { max: 2, statementTimeoutMs: 300 }, 'tmb-verifier-lock'),
    data,
  );
  t.after(() => impatient.close());
  const held = gate();
  const release = gate();
  const holding = holder.run('gpu-4', async () => {
    held.open();
    await release.promise;
  });
  await held.promise;
  let wrote: string | undefined;
  const late = impatient.run('gpu-4', async () => {
    // Sent with the lock statement, which times out: the transaction is aborted, this fails.
    wrote = await via(data)`INSERT INTO lock_rows VALUES ('gpu-4', 1)`.then(
      () => 'inserted',
      (e: unknown) => String((e as { code?: unknown }).code),
    );
  });
  await assert.rejects(
    bounded(late, 'the late run'),
    (e: unknown) => (e as { code?: unknown }).code === '57014',
  );
  release.open();
  await bounded(holding, 'the holder');
  assert.notEqual(wrote, 'inserted');
  assert.equal((await data`SELECT * FROM lock_rows WHERE agent = 'gpu-4'`).length, 0);
});
