import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Lru } from '../src/lru.ts';

test('Lru drops the least recently used entry when full; a hit counts as a use', () => {
  const l = new Lru<string, number>(2);
  l.set('a', 1);
  l.set('b', 2);
  assert.equal(l.get('a'), 1); // a is now the most recent
  l.set('c', 3); // drops b
  assert.equal(l.get('b'), undefined);
  assert.equal(l.get('a'), 1);
  assert.equal(l.get('c'), 3);
  assert.equal(l.size, 2);
  l.set('c', 4); // a rewrite is a use, not a second entry
  assert.equal(l.size, 2);
  l.set('d', 5); // drops a
  assert.deepEqual([l.get('a'), l.get('c'), l.get('d')], [undefined, 4, 5]);
  l.delete('c');
  l.delete('nothing');
  assert.deepEqual([l.get('c'), l.get('d'), l.size], [undefined, 5, 1]);
});

test('Lru.getOrBuild builds on a miss only, and keeps nothing when the build throws', () => {
  const l = new Lru<string, number>(4);
  let builds = 0;
  assert.equal(
    l.getOrBuild('k', () => ++builds),
    1,
  );
  assert.equal(
    l.getOrBuild('k', () => ++builds),
    1,
  );
  assert.throws(() =>
    l.getOrBuild('bad', () => {
      throw new Error('no');
    }),
  );
  assert.equal(l.get('bad'), undefined);
  assert.equal(l.size, 1);
  assert.throws(() => new Lru(0), RangeError);
});

test('Lru agrees with a model of recency and never holds more than max', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 60 }),
      (max, ops) => {
        const l = new Lru<number, number>(max);
        let model: number[] = []; // keys, least recent first
        for (const [isSet, k] of ops) {
          if (isSet) {
            l.set(k, k * 10);
            model = [...model.filter((x) => x !== k), k];
            if (model.length > max) model.shift();
          } else {
            const had = model.includes(k);
            assert.equal(l.get(k), had ? k * 10 : undefined);
            if (had) model = [...model.filter((x) => x !== k), k];
          }
          assert.equal(l.size, model.length);
        }
      },
    ),
  );
});
