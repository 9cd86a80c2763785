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
