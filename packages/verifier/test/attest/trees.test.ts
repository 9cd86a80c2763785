import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256, utf8 } from '@tmb/core';
import { consistencyProof, inclusionProof, leafHash, MemoryTree } from '@tmb/core/log';
import fc from 'fast-check';
import { Trees } from '../../src/attest/trees.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

function openStore(t: { after: (f: () => unknown) => void }): SqliteStore {
  const dir = mkdtempSync(join(tmpdir(), 'tmb-trees-'));
  const store = new SqliteStore(join(dir, 'v.db'));
  t.after(() => store.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return store;
}

/** Stores receipts with seq from..to-1 (bodies "r<seq>") for `agent`; returns their leaf hashes. */
async function putSeqs(store: SqliteStore, agent: string, from: number, to: number): Promise<Uint8Array[]> {
  const rows = [];
  for (let seq = from; seq < to; seq++) {
    const body = utf8(`${agent} r${seq}`);
    rows.push({
      id: Buffer.from(sha256(body)).toString('hex').slice(0, 32),
      requestId: `q${seq}`,
      agent,
      keyId: 'k',
      body,
      sig: new Uint8Array(64),
      receivedAt: 0,
      seq,
    });
  }
  for (let i = 0; i < rows.length; i += 500) await store.putReceipts(rows.slice(i, i + 500));
  return rows.map((r) => leafHash(r.body));
}

test('persisted trees: roots and proofs agree with MemoryTree, runs from a base, across a restart', async (t) => {
  const store = openStore(t);
  let agentNo = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 1, max: 300 }),
      fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 }),
      async (base, total, steps) => {
        const agent = `a${agentNo++}`;
        const run = { run: base === 0 ? 0 : 1, base };
        const hashes = await putSeqs(store, agent, base, base + total);
        const mem = new MemoryTree(hashes);
        // Grown in steps (as checkpoints arrive), by a fresh Trees each time: state comes from the store.
        for (const s of steps.map((x) => Math.min(x, total)).sort((a, b) => a - b)) {
          const trees = new Trees(store);
          assert.equal(await trees.grow(agent, run, s), s);
          assert.deepEqual(await trees.root(agent, run, s), mem.root(s));
        }
        const trees = new Trees(store);
        assert.deepEqual(await trees.root(agent, run, total), mem.root(total));
        const size = 1 + ((steps[0]! * 7) % total);
        const index = (steps.at(-1)! * 13) % size;
        assert.deepEqual(
          await trees.inclusionProof(agent, run, index, size),
          inclusionProof(mem, index, size),
        );
        const from = (steps[0]! * 3) % (size + 1);
        assert.deepEqual(
          await trees.consistencyProof(agent, run, from, size),
          consistencyProof(mem, from, size),
        );
        assert.deepEqual(await trees.root(agent, run, size), mem.root(size));
        // Never past what the store holds: a missing seq stops the tree.
        assert.equal(await trees.grow(agent, run, total + 5), total);
        assert.equal(await trees.root(agent, run, total + 1), null);
      },
    ),
    { numRuns: 25 },
  );
});

test('persisted trees: a gap stops growth until the seq arrives', async (t) => {
  const store = openStore(t);
  const run = { run: 0, base: 0 };
  const a = await putSeqs(store, 'g', 0, 5);
  const c = await putSeqs(store, 'g', 6, 9);
  const trees = new Trees(store);
  assert.equal(await trees.grow('g', run, 9), 5);
  const b = await putSeqs(store, 'g', 5, 6);
  assert.equal(await trees.grow('g', run, 9), 9);
  assert.deepEqual(await trees.root('g', run, 9), new MemoryTree([...a, ...b, ...c]).root());
});

test('persisted trees: memory per agent is O(log n) hashes, not O(n)', async (t) => {
  const store = openStore(t);
  const n = 5000;
  await putSeqs(store, 'big', 0, n);
  const trees = new Trees(store);
  assert.equal(await trees.grow('big', { run: 0, base: 0 }, n), n);
  // 5000 = 0b1001110001000: one hash per set bit of the size.
  assert.equal(trees.heldHashes('big'), 5);
  assert.ok(trees.heldHashes('big') <= Math.ceil(Math.log2(n)));
});
