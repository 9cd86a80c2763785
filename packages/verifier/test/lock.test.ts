import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedLock } from '../src/lock.ts';

const turn = () => new Promise<void>((r) => setImmediate(r));

test('runs of one key are FIFO and never overlap; other keys run alongside', async () => {
  const lock = new KeyedLock();
  const log: string[] = [];
  const inside = new Map<string, number>();
  const job = (key: string, name: string) =>
    lock.run(key, async () => {
      inside.set(key, (inside.get(key) ?? 0) + 1);
      assert.equal(inside.get(key), 1, 'two runs of one key overlapped');
      log.push(`${name}+`);
      await turn();
      await turn();
      log.push(`${name}-`);
      inside.set(key, inside.get(key)! - 1);
      return name;
    });
  const results = await Promise.all([job('a', 'a1'), job('a', 'a2'), job('b', 'b1'), job('a', 'a3')]);
  assert.deepEqual(results, ['a1', 'a2', 'b1', 'a3']);
  const a = log.filter((e) => e.startsWith('a'));
  assert.deepEqual(a, ['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-']);
  // b1 started while a1 was still running.
  assert.ok(log.indexOf('b1+') < log.indexOf('a1-'));
});

test('a run that throws releases the key and rejects with its error', async () => {
  const lock = new KeyedLock();
  const failed = lock.run('a', async () => {
    throw new Error('boom');
  });
  const next = lock.run('a', () => 'ok');
  await assert.rejects(failed, /boom/);
  assert.equal(await next, 'ok');
  assert.equal(lock.size, 0);
});

test('idle keys are removed: 10,000 keys leave nothing behind', async () => {
  const lock = new KeyedLock();
  await Promise.all(Array.from({ length: 10_000 }, (_, i) => lock.run(`k${i}`, async () => turn())));
  assert.equal(lock.size, 0);
  const held = lock.run('x', () => turn());
  assert.equal(lock.size, 1);
  await held;
  assert.equal(lock.size, 0);
});

test('a lost update without the lock is prevented with it (read-modify-write of a counter)', async () => {
  const lock = new KeyedLock();
  let stored = 0;
  const load = async () => {
    await turn();
    return stored;
  };
  const save = async (v: number) => {
    await turn();
    stored = v;
  };
  await Promise.all(
    Array.from({ length: 20 }, () => lock.run('agent', async () => save((await load()) + 1))),
  );
  assert.equal(stored, 20);
});
