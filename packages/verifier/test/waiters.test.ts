import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Waiters } from '../src/waiters.ts';

test('announce wakes every waiter for that id and only them', async () => {
  const w = new Waiters();
  const never = new AbortController().signal;
  const a = w.wait('a', 10_000, never);
  const b = w.wait('a', 10_000, never);
  const other = w.wait('b', 20, never);
  assert.equal(w.size, 3);
  w.announce('a');
  assert.deepEqual(await Promise.all([a, b]), [true, true]);
  assert.equal(await other, false, 'b times out');
  assert.equal(w.size, 0);
});

test('onStored hears every receipt stored here, not those another process stored (found by the poll)', async () => {
  const stored = new Set(['far']);
  const w = new Waiters({ poll: async (ids) => new Set(ids.filter((id) => stored.has(id))), minPollMs: 5 });
  const heard: string[] = [];
  w.onStored((id) => heard.push(id));
  const never = new AbortController().signal;
  const far = w.wait('far', 60_000, never);
  assert.equal(await far, true, 'woken by the poll');
  w.announce('near');
  assert.deepEqual(heard, ['near']);
});

test('an abort ends the wait with false, also when already aborted', async () => {
  const w = new Waiters();
  const ac = new AbortController();
  const p = w.wait('a', 10_000, ac.signal);
  ac.abort();
  assert.equal(await p, false);
  assert.equal(await w.wait('a', 10_000, ac.signal), false);
  assert.equal(w.size, 0);
  w.announce('a');
});

test('a receipt stored at another process wakes the waiter through the poll, within its bound', async () => {
  const stored = new Set<string>();
  const asked: string[][] = [];
  let missedTwice!: () => void;
  const twoRounds = new Promise<void>((resolve) => {
    missedTwice = resolve;
  });
  const w = new Waiters({
    poll: async (ids) => {
      asked.push([...ids]);
      if (asked.length === 2) missedTwice();
      return new Set(ids.filter((id) => stored.has(id)));
    },
    minPollMs: 5,
    maxPollMs: 20,
  });
  const never = new AbortController().signal;
  const p = w.wait('x', 60_000, never);
  const q = w.wait('y', 60_000, never);
  // Not there at first: the poll misses and backs off (the wait goes on).
  await twoRounds;
  stored.add('x');
  assert.equal(await p, true, 'woken by the poll, long before its 60 s');
  assert.ok(
    asked.every((ids) => ids.length <= 2),
    'one batched question per round',
  );
  w.announce('y');
  assert.equal(await q, true);
  assert.equal(w.size, 0);
  assert.equal(w.ids, 0);
});

test('a local announce wakes at once, with no poll of the store', async () => {
  let polls = 0;
  const w = new Waiters({
    poll: async () => {
      polls++;
      return new Set();
    },
    minPollMs: 60_000,
  });
  const p = w.wait('a', 120_000, new AbortController().signal);
  w.announce('a');
  assert.equal(await p, true);
  assert.equal(polls, 0);
});

test('a failing poll only delays: the waiter still ends by its own time', async () => {
  const w = new Waiters({
    poll: async () => {
      throw new Error('store down');
    },
    minPollMs: 1,
    maxPollMs: 5,
  });
  assert.equal(await w.wait('a', 30, new AbortController().signal), false);
  assert.equal(w.size, 0);
});

test('the ids held never exceed the waits pending, and drop to none when they end', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.constantFrom('wait', 'announce', 'abort')), {
        maxLength: 60,
      }),
      async (ops) => {
        const w = new Waiters({ poll: async () => new Set(), minPollMs: 1, maxPollMs: 2 });
        const controllers: AbortController[] = [];
        const all: Promise<boolean>[] = [];
        for (const [id, op] of ops) {
          if (op === 'wait') {
            const ac = new AbortController();
            controllers.push(ac);
            all.push(w.wait(id, 60_000, ac.signal));
          } else if (op === 'announce') w.announce(id);
          else controllers.shift()?.abort();
          assert.ok(w.ids <= w.size, `${w.ids} ids held for ${w.size} waits`);
        }
        for (const ac of controllers) ac.abort();
        await Promise.all(all);
        assert.equal(w.size, 0);
        assert.equal(w.ids, 0);
      },
    ),
    { numRuns: 100 },
  );
});
