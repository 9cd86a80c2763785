import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { ReceiptLog } from '@tmb/agent/log';
import { consistencyProof, inclusionProof, leafHash, MemoryTree } from '@tmb/core/log';
import fc from 'fast-check';

test('random batch sequences: the persisted log serves the reference tree roots and proofs', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 40 }), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      fc.nat(),
      (batches, a, b) => {
        const db = new DatabaseSync(':memory:');
        const log = ReceiptLog.open(db);
        const ref = new MemoryTree();
        for (const batch of batches) {
          log.append(batch, ref.size);
          for (const r of batch) ref.push(leafHash(r));
        }
        const reopened = ReceiptLog.open(db);
        assert.equal(reopened.size, ref.size);
        assert.deepEqual(reopened.root(), ref.root());
        if (ref.size > 0) {
          const size = 1 + (a % ref.size);
          const index = b % size;
          assert.deepEqual(reopened.rootAt(size), ref.root(size));
          assert.deepEqual(reopened.inclusionProof(index, size), inclusionProof(ref, index, size));
          assert.deepEqual(reopened.consistencyProof(index, size), consistencyProof(ref, index, size));
        }
        db.close();
      },
    ),
    { numRuns: 60 },
  );
});

test('random runs: each run is its own tree of the receipts from its base, proofs and roots survive reopening', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ batch: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 20 }) }),
          fc.record({ skip: fc.nat({ max: 5 }) }),
        ),
        { minLength: 1, maxLength: 16 },
      ),
      fc.nat(),
      fc.nat(),
      (steps, a, b) => {
        const db = new DatabaseSync(':memory:');
        const log = ReceiptLog.open(db);
        const refs: { base: number; tree: MemoryTree }[] = [{ base: 0, tree: new MemoryTree() }];
        let seq = 0;
        for (const step of steps) {
          if ('batch' in step) {
            log.append(step.batch, seq);
            for (const r of step.batch) refs.at(-1)!.tree.push(leafHash(r));
            seq += step.batch.length;
          } else {
            seq += step.skip; // seqs in no run
            assert.deepEqual(log.startRun(seq, 'test', 0), { run: refs.length, base: seq });
            refs.push({ base: seq, tree: new MemoryTree() });
          }
        }
        const reopened = ReceiptLog.open(db);
        assert.deepEqual(reopened.run, { run: refs.length - 1, base: refs.at(-1)!.base });
        assert.equal(reopened.nextSeq, seq);
        for (const [run, ref] of refs.entries()) {
          const tree = ref.tree;
          assert.equal(reopened.tree(run).size, tree.size);
          assert.deepEqual(reopened.rootAt(tree.size, run), tree.root());
          if (tree.size === 0) continue;
          const size = 1 + (a % tree.size);
          const index = b % size;
          assert.deepEqual(reopened.inclusionProof(index, size, run), inclusionProof(tree, index, size));
          assert.deepEqual(reopened.consistencyProof(index, size, run), consistencyProof(tree, index, size));
          assert.deepEqual(reopened.locate(ref.base + index), { run, base: ref.base, index });
        }
        assert.equal(reopened.audit(true).ok, true);
        db.close();
      },
    ),
    { numRuns: 60 },
  );
});
