import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type FeedEvent, type FeedVerdict, VerdictFeed } from '../../src/dashboard/feed.ts';
import { Waiters } from '../../src/waiters.ts';

// The dashboard's live feed is bounded: nothing is composed while nobody watches, at most
// `perSecond` verdicts a second, at most `maxPending` waiting; what is dropped is said.

const verdict = (id: string, agent = 'gpu-1'): FeedVerdict => ({
  receiptId: id,
  agent,
  requestId: null,
  level: 'L0',
  ok: true,
  failing: [],
  receivedAt: 0,
  pending: false,
  at: null,
  model: null,
  path: null,
  tokens: null,
  telemetry: null,
});

/** Resolves once `holds()` is true (the feed composes, and tells of drops, asynchronously), within 20 s. */
async function until(holds: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!holds() && Date.now() < end) await new Promise((r) => setTimeout(r, 1));
}

const verdicts = (events: FeedEvent[], n: number) =>
  until(() => events.filter((e) => e.type === 'verdict').length >= n);
const dropped = (events: FeedEvent[]) =>
  events.filter((e) => e.type === 'dropped').reduce((n, e) => n + e.count, 0);

test('while nobody watches, a stored receipt costs nothing: no verdict is composed', async () => {
  let composed = 0;
  const feed = new VerdictFeed({
    summarise: async (id) => {
      composed++;
      return verdict(id);
    },
    now: () => 0,
  });
  const waiters = new Waiters();
  feed.tap(waiters);
  const woken = waiters.wait('r1', 10_000, new AbortController().signal);
  waiters.announce('r1');
  assert.equal(await woken, true, 'the waiters are still woken');
  await new Promise((r) => setImmediate(r));
  assert.equal(composed, 0);
  assert.equal(feed.active, false);
  feed.touch();
  assert.equal(feed.active, true);
});

test('past perSecond a second, receipts are dropped and every stream is told how many', async () => {
  const now = { t: 10_000 };
  const feed = new VerdictFeed({ summarise: async (id) => verdict(id), now: () => now.t, perSecond: 2 });
  const events: FeedEvent[] = [];
  feed.subscribe({ accepts: () => true, send: (e) => events.push(e) });
  for (const id of ['a', 'b', 'c', 'd', 'e']) feed.offer(id);
  await verdicts(events, 2);
  assert.deepEqual(
    events.filter((e) => e.type === 'verdict').map((e) => e.verdict.receiptId),
    ['a', 'b'],
  );
  await until(() => dropped(events) > 0);
  assert.equal(dropped(events), 3, 'told once, of all three');
  assert.equal(events.filter((e) => e.type === 'dropped').length, 1);
  now.t += 1000; // a new second
  feed.offer('f');
  await verdicts(events, 3);
  assert.equal(events.filter((e) => e.type === 'verdict').at(-1)?.verdict.receiptId, 'f');
});

test('at most maxPending receipts wait for their verdict; the oldest are dropped and said', async () => {
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const feed = new VerdictFeed({
    summarise: async (id) => {
      await gate;
      return verdict(id);
    },
    now: () => 0,
    maxPending: 2,
    perSecond: 1000,
  });
  const events: FeedEvent[] = [];
  feed.subscribe({ accepts: () => true, send: (e) => events.push(e) });
  for (const id of ['1', '2', '3', '4', '5']) feed.offer(id); // '1' is being composed; 2 of the rest wait
  release();
  await verdicts(events, 3);
  assert.deepEqual(
    events.filter((e) => e.type === 'verdict').map((e) => e.verdict.receiptId),
    ['1', '4', '5'],
  );
  await until(() => dropped(events) > 0);
  assert.equal(dropped(events), 2);
});

test('a stream hears only the agents it may read; recent verdicts are kept per agent, bounded', async () => {
  const feed = new VerdictFeed({
    summarise: async (id) => verdict(id, id.startsWith('a') ? 'gpu-a' : 'gpu-b'),
    now: () => 0,
    perSecond: 1000,
    recentPerAgent: 2,
  });
  const events: FeedEvent[] = [];
  feed.subscribe({ accepts: (agent) => agent === 'gpu-a', send: (e) => events.push(e) });
  for (const id of ['a1', 'b1', 'a2', 'a3']) feed.offer(id);
  await verdicts(events, 3);
  assert.deepEqual(
    events.filter((e) => e.type === 'verdict').map((e) => e.verdict.receiptId),
    ['a1', 'a2', 'a3'],
  );
  assert.deepEqual(
    feed.recent('gpu-a').map((x) => x.receiptId),
    ['a2', 'a3'],
  );
  assert.deepEqual(
    feed.backlog((agent) => agent === 'gpu-b', 10).map((x) => x.receiptId),
    ['b1'],
  );
});

test('a verdict with evidence still due is held and composed again; it is sent once settled, or when settleMs passed', async () => {
  const now = { t: 0 };
  const calls = new Map<string, number>();
  const feed = new VerdictFeed({
    summarise: async (id) => {
      const n = (calls.get(id) ?? 0) + 1;
      calls.set(id, n);
      // 'late' settles on its third composition; 'never' stays pending.
      return { ...verdict(id), pending: id === 'never' || n < 3 };
    },
    now: () => now.t,
    retryMs: 1,
    settleMs: 10_000,
  });
  const events: FeedEvent[] = [];
  feed.subscribe({ accepts: () => true, send: (e) => events.push(e) });
  feed.offer('late');
  feed.offer('never');
  await verdicts(events, 1);
  const sent = () =>
    events.flatMap((e) => (e.type === 'verdict' ? [[e.verdict.receiptId, e.verdict.pending]] : []));
  assert.deepEqual(sent(), [['late', false]]);
  assert.equal(calls.get('late'), 3);
  now.t = 10_000; // the deadline: 'never' goes out as it stands, marked pending
  await verdicts(events, 2);
  assert.deepEqual(sent(), [
    ['late', false],
    ['never', true],
  ]);
  feed.close();
});
