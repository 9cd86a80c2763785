// Receipt pushes take their own per-agent lock (lock.ts receiptLockKey), not the agent's: two
// verifier instances on one PostgreSQL database (as two processes) push and enrol while a third
// party holds the agent's lock as an appraisal would, and pushes still wait for each other.
// PgStore.receiptLocked (the lock in the push's own transaction) at the store.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import postgres from 'postgres';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { receiptLockKey } from '../../src/lock.ts';
import { PgStore } from '../../src/store/pg.ts';
import { agentLockKey } from '../../src/store/pg-lock.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody } from '../fixtures.ts';

const skip = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (skip === false) pg = await startPg();
});
after(() => pg?.close());

/** Rejects when `p` takes longer than a bound only a lock never released would reach. */
function bounded<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

async function setup(t: { after(fn: () => unknown): void }) {
  const url = await pg!.newDatabase();
  const start = () =>
    startVerifier({
      dbPath: ':memory:',
      databaseUrl: url,
      databasePool: { max: 3, lockConnections: 2 },
      tokens: agentTokens('gpu-1'),
      rateLimit: false,
    });
  const [a, b] = await Promise.all([start(), start()]);
  // A session of its own: holds advisory locks as another verifier process would.
  const holder = postgres(url, { max: 1, onnotice: () => {} });
  t.after(async () => {
    await holder.end({ timeout: 5 });
    await Promise.all([a.close(), b.close()]);
  });
  return { a, b, holder };
}

const push = (v: RunningVerifier, receipts: unknown[]) =>
  call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts });

test('pushes and key enrolments at both processes complete while the agent lock is held elsewhere', {
  skip,
}, async (t) => {
  const { a, b, holder } = await setup(t);
  const reserved = await holder.reserve();
  t.after(() => reserved.release());
  await reserved`SELECT pg_advisory_lock(${agentLockKey('gpu-1')}::bigint)`;
  const k = newKey('gpu-1');
  const k2 = newKey('gpu-1');
  const enrolled = await bounded(
    Promise.all([
      call(`${a.url}/v1/agents/enroll`, 'POST', enrolBody(k)),
      call(`${b.url}/v1/agents/enroll`, 'POST', enrolBody(k2)),
    ]),
    'enrolments',
  );
  assert.deepEqual(
    enrolled.map((r) => r.status),
    [200, 200],
  );
  const wires = Array.from({ length: 8 }, (_, seq) => signBody(k, receiptBody(k, { seq })));
  const pushed = await bounded(
    Promise.all([push(a, wires.slice(0, 4)), push(b, wires.slice(4)), push(a, wires.slice(2, 6))]),
    'pushes',
  );
  assert.ok(
    pushed.every((r) => r.status === 200 && (r.json.rejected as unknown[]).length === 0),
    JSON.stringify(pushed.map((r) => r.json)),
  );
  assert.equal(
    pushed.reduce((n, r) => n + (r.json.accepted as number), 0),
    8,
    'each receipt stored once, none lost',
  );
  await reserved`SELECT pg_advisory_unlock(${agentLockKey('gpu-1')}::bigint)`;
});

test('a push waits for the receipt lock another process holds, then decides positions as it finds them', {
  skip,
}, async (t) => {
  const { a, b, holder } = await setup(t);
  const k1 = newKey('gpu-1');
  const k2 = newKey('gpu-1');
  assert.equal((await call(`${a.url}/v1/agents/enroll`, 'POST', enrolBody(k1))).status, 200);
  assert.equal((await call(`${b.url}/v1/agents/enroll`, 'POST', enrolBody(k2))).status, 200);
  const reserved = await holder.reserve();
  t.after(() => reserved.release());
  const key = agentLockKey(receiptLockKey('gpu-1'));
  await reserved`SELECT pg_advisory_lock(${key}::bigint)`;
  // The superseded key's push, held at the lock; meanwhile the later key takes position 5.
  const held = push(a, [signBody(k1, receiptBody(k1, { seq: 10 }))]);
  const waiting = async () =>
    Number(
      (await reserved`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)[0]!.n,
    );
  await bounded(
    (async () => {
      while ((await waiting()) < 1) await new Promise((r) => setImmediate(r));
    })(),
    'the push to wait at the lock',
  );
  // Release by the same session that took it; the later key's push and the held one race.
  await reserved`SELECT pg_advisory_unlock(${key}::bigint)`;
  const later = await bounded(push(b, [signBody(k2, receiptBody(k2, { seq: 5 }))]), 'later key');
  const first = await bounded(held, 'held push');
  assert.equal(later.json.accepted, 1);
  // Either order is a serial one: the held push went first (seq 10 stored before the later key
  // held any position) or after (refused: the later key holds 5).
  const codes = (first.json.rejected as { code: string }[]).map((r) => r.code);
  assert.ok(
    (first.json.accepted === 1 && codes.length === 0) ||
      (first.json.accepted === 0 && codes[0] === 'RECEIPT_KEY_SUPERSEDED'),
    JSON.stringify(first.json),
  );
  // Once the later key holds a position, the superseded key never takes one past it.
  const after = await push(a, [signBody(k1, receiptBody(k1, { seq: 11 }))]);
  assert.deepEqual(
    (after.json.rejected as { code: string }[]).map((r) => r.code),
    ['RECEIPT_KEY_SUPERSEDED'],
  );
});

test('PgStore.receiptLocked: statements sent with the lock run only once another session releases it', {
  skip,
}, async (t) => {
  const url = await pg!.newDatabase();
  const store = await PgStore.open(url, { max: 2 });
  const holder = postgres(url, { max: 1, onnotice: () => {} });
  t.after(async () => {
    await holder.end({ timeout: 5 });
    await store.close();
  });
  const reserved = await holder.reserve();
  t.after(() => reserved.release());
  const lockKey = receiptLockKey('gpu-1');
  await reserved`SELECT pg_advisory_lock(${agentLockKey(lockKey)}::bigint)`;
  const k = newKey('gpu-1');
  const record = { agent: 'gpu-1', keyId: 'k1', key: k.raw, enrolledAt: 1 };
  const locked = store.receiptLocked(lockKey, async (s) => {
    // Issued at once: pipelined behind the lock statement, so run by the server after it.
    const [added, keys] = await Promise.all([s.addKey(record), s.agentKeys('gpu-1')]);
    return { added, keys: keys.length };
  });
  await bounded(
    (async () => {
      const waiting = async () =>
        Number(
          (await reserved`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)[0]!
            .n,
        );
      while ((await waiting()) < 1) await new Promise((r) => setImmediate(r));
    })(),
    'receiptLocked to wait at the lock',
  );
  // Enrolled by the lock's holder before it lets go: the session's read, run after the lock
  // is granted, sees it (a read run before the lock would not).
  const k0 = newKey('gpu-1');
  await reserved`INSERT INTO agent_keys (key_id, agent, key, enrolled_at) VALUES ('k0', 'gpu-1', ${k0.raw}, 0)`;
  await reserved`SELECT pg_advisory_unlock(${agentLockKey(lockKey)}::bigint)`;
  assert.deepEqual(await bounded(locked, 'receiptLocked'), { added: true, keys: 2 });
  assert.equal((await store.getKey('k1'))?.agent, 'gpu-1');
  // The lock ends with the transaction: another session takes it at once.
  const [row] = await reserved`SELECT pg_try_advisory_lock(${agentLockKey(lockKey)}::bigint) AS got`;
  assert.equal(row!.got, true);
  await reserved`SELECT pg_advisory_unlock(${agentLockKey(lockKey)}::bigint)`;
});

test('PgStore.receiptLocked: a failure rolls back every statement of the session', { skip }, async (t) => {
  const store = await PgStore.open(await pg!.newDatabase(), { max: 2 });
  t.after(() => store.close());
  const k = newKey('gpu-1');
  await assert.rejects(
    store.receiptLocked(receiptLockKey('gpu-1'), async (s) => {
      await s.addKey({ agent: 'gpu-1', keyId: 'k1', key: k.raw, enrolledAt: 1 });
      throw new Error('refused');
    }),
    /refused/,
  );
  assert.equal(await store.getKey('k1'), undefined);
});
