import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RateLimiter } from '../src/ratelimit.ts';

test('a bucket holds `burst` requests and refills at perSecond; Retry-After rounds up to whole seconds', () => {
  const clock = { now: 0 };
  const l = new RateLimiter({ perSecond: 0.5, burst: 2, maxClients: 10 }, () => clock.now);
  assert.deepEqual(l.take('a'), { ok: true });
  assert.deepEqual(l.take('a'), { ok: true });
  assert.deepEqual(l.take('a'), { ok: false, retryAfterSeconds: 2 });
  assert.deepEqual(l.take('b'), { ok: true }, 'buckets are per client');
  clock.now = 1999;
  assert.equal(l.take('a').ok, false);
  clock.now = 2000;
  assert.equal(l.take('a').ok, true);
});

test('the map of buckets is bounded: the longest-idle client is dropped first', () => {
  const clock = { now: 0 };
  const l = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 3 }, () => clock.now);
  for (const c of ['a', 'b', 'c']) assert.equal(l.take(c).ok, true);
  assert.equal(l.take('a').ok, false); // a is now the most recently used
  assert.equal(l.take('d').ok, true); // drops b, the longest idle
  assert.equal(l.size, 3);
  assert.equal(l.take('a').ok, false, 'a kept its empty bucket');
  assert.equal(l.take('b').ok, true, 'b starts again with a full bucket');
});

test('a clock stepping back never refills nor drains a bucket', () => {
  const clock = { now: 10_000 };
  const l = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 3 }, () => clock.now);
  assert.equal(l.take('a').ok, true);
  clock.now = 0;
  assert.equal(l.take('a').ok, false);
  clock.now = 1000;
  assert.equal(l.take('a').ok, true);
});

test('property: over any schedule, a client never gets more than burst + perSecond * elapsed requests', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 200 }),
      (perSecond, burst, steps) => {
        const clock = { now: 0 };
        const l = new RateLimiter({ perSecond, burst, maxClients: 4 }, () => clock.now);
        let granted = 0;
        for (const step of steps) {
          clock.now += step;
          if (l.take('x').ok) granted++;
        }
        return granted <= burst + Math.floor((perSecond * clock.now) / 1000);
      },
    ),
  );
});
