import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { Nonces } from '../../src/attest/nonces.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

test('a nonce is single use, bound to its agent, and expires', async (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const n = new Nonces(store, 1000);
  const { nonce } = await n.issue('a', 0);
  assert.match(nonce, /^[0-9a-f]{64}$/);
  assert.equal((await n.consume('b', nonce, 10))?.code, 'NONCE_UNKNOWN'); // another agent's
  assert.equal(await n.consume('a', nonce, 10), undefined);
  assert.equal((await n.consume('a', nonce, 20))?.code, 'NONCE_REUSED');
  assert.equal((await n.consume('a', 'ff'.repeat(32), 20))?.code, 'NONCE_UNKNOWN');
  assert.equal((await n.consume('a', 'not hex', 20))?.code, 'NONCE_UNKNOWN');
  const late = (await n.issue('a', 0)).nonce;
  assert.equal((await n.consume('a', late, 1000))?.code, 'NONCE_UNKNOWN'); // expired
});

test('an agent holds at most perAgent live nonces: the oldest is dropped', async (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const n = new Nonces(store, 60_000, 2);
  const first = (await n.issue('a', 0)).nonce;
  const second = (await n.issue('a', 0)).nonce;
  const third = (await n.issue('a', 0)).nonce;
  const other = (await n.issue('b', 0)).nonce;
  assert.equal((await n.consume('a', first, 1))?.code, 'NONCE_UNKNOWN');
  assert.equal(await n.consume('a', second, 1), undefined);
  assert.equal(await n.consume('a', third, 1), undefined);
  assert.equal(await n.consume('b', other, 1), undefined);
});

test('a nonce issued through one store is accepted once through another on the same database', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-nonces-'));
  const a = new SqliteStore(join(dir, 'v.db'));
  const b = new SqliteStore(join(dir, 'v.db'));
  t.after(async () => {
    await a.close();
    await b.close();
    await rm(dir, { recursive: true, force: true });
  });
  const na = new Nonces(a, 60_000);
  const nb = new Nonces(b, 60_000);
  const { nonce } = await na.issue('gpu-1', 0);
  const uses = await Promise.all([nb.consume('gpu-1', nonce, 1), na.consume('gpu-1', nonce, 1)]);
  assert.deepEqual(
    uses.map((u) => u?.code ?? 'ok').sort(),
    ['NONCE_REUSED', 'ok'],
    'exactly one of two uses through two processes wins',
  );
});

test('the nonce table never holds more than perAgent nonces of an agent, whatever the issue and use order', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 5_000 }), fc.boolean()), {
        maxLength: 40,
      }),
      async (perAgent, steps) => {
        const store = new SqliteStore(':memory:');
        const n = new Nonces(store, 1_000, perAgent);
        const live = new Map<string, string[]>();
        let now = 0;
        for (const [agent, dt, use] of steps) {
          now += dt;
          const { nonce } = await n.issue(agent, now);
          live.set(agent, [...(live.get(agent) ?? []), nonce]);
          if (use) assert.equal(await n.consume(agent, nonce, now), undefined);
          // Of the agent's nonces, at most perAgent are still known (used or not).
          let known = 0;
          for (const k of live.get(agent)!)
            if ((await n.consume(agent, k, now))?.code !== 'NONCE_UNKNOWN') known++;
          assert.ok(known <= perAgent, `${known} nonces of ${agent} known, cap ${perAgent}`);
        }
        await store.close();
      },
    ),
    { numRuns: 40 },
  );
});
