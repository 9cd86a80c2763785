import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type Bundle, type BundleBatch, batchBundles, expandBatch, verifyBundleBatch } from '../src/index.ts';

// Batches (docs/bundle.md, "Batches"): receipts judged by one quote share its evidence.

const dir = new URL('./vectors/bundle/', import.meta.url);
const read = (f: string) => readFileSync(new URL(f, dir), 'utf8');
const BATCH = JSON.parse(read('batch.json')) as BundleBatch;
const SINGLE = JSON.parse(read('bundle.json')) as Bundle;
const FIRST = JSON.parse(read('bundle-first.json')) as Bundle;
const opts = { verifierKey: JSON.parse(read('verifier-key.json')), ekRoots: [read('ek-roots.pem')] };

test('the vector batch verifies each receipt to L1, and expands to the single bundles exactly', async () => {
  const rs = await verifyBundleBatch(structuredClone(BATCH), opts);
  assert.deepEqual(
    rs.map((r) => [r.level, r.ok]),
    [
      ['L1', true],
      ['L1', true],
    ],
  );
  assert.deepEqual(expandBatch(structuredClone(BATCH))[0], SINGLE);
  // Smaller than its bundles: the quote, logs and policy are there once.
  const singles = expandBatch(structuredClone(BATCH)).map((b) => JSON.stringify(b).length);
  assert.ok(JSON.stringify(BATCH).length < singles.reduce((a, b) => a + b, 0));
});

test('batchBundles groups bundles by their judging quote', () => {
  const [a, b] = expandBatch(structuredClone(BATCH)) as Bundle[];
  const batches = batchBundles([a!, FIRST, b!]);
  assert.equal(batches.length, 2);
  assert.deepEqual(
    batches.map((x) => x.items.length),
    [2, 1],
  );
  assert.deepEqual(batches[0], BATCH);
});

test('a changed item fails that receipt only; a malformed batch is a failed bundle.format', async () => {
  const b = structuredClone(BATCH);
  const proof = b.items[1]!.proof as { hashes: string[] };
  proof.hashes[0] = proof.hashes[0]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
  const rs = await verifyBundleBatch(b, opts);
  assert.equal(rs[0]!.ok, true);
  assert.equal(rs[1]!.ok, false);
  assert.notEqual(rs[1]!.level, 'L1');
  for (const bad of [
    null,
    { ...BATCH, v: 2 },
    { ...BATCH, items: [] },
    { ...BATCH, extra: 1 },
    { ...BATCH, items: [{ ...BATCH.items[0], x: 1 }] },
    { ...BATCH, shared: { ...BATCH.shared, inclusion: { checkpoint: 'x', proof: {} } } },
  ]) {
    const [r] = await verifyBundleBatch(bad, opts);
    assert.equal(r!.checks[0]!.code, 'BUNDLE_MALFORMED');
    assert.equal(r!.level, 'none');
  }
});
