import assert from 'node:assert/strict';
import { test } from 'node:test';
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
