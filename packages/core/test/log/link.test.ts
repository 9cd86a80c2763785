import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Checkpoint,
  consistencyProof,
  inclusionProof,
  leafHash,
  MemoryTree,
  verifyCheckpointExtends,
  verifyReceiptInCheckpoint,
} from '@tmb/core/log';

const receipts = Array.from({ length: 21 }, (_, i) => new TextEncoder().encode(`receipt ${i}`));
const tree = new MemoryTree(receipts.map(leafHash));
const cp = (size: number, origin = 'agent-1'): Checkpoint => ({
  origin,
  size,
  root: tree.root(size),
  extensions: [],
});
const code = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);

test('a receipt is in a checkpoint only through a proof for the checkpoint size', () => {
  const proof = inclusionProof(tree, 7, 13);
  assert.equal(code(verifyReceiptInCheckpoint(receipts[7]!, proof, cp(13))), 'ok');
  assert.equal(code(verifyReceiptInCheckpoint(receipts[7]!, proof, cp(21))), 'CHECKPOINT_SIZE_MISMATCH');
  assert.equal(code(verifyReceiptInCheckpoint(receipts[8]!, proof, cp(13))), 'INCLUSION_PROOF_INVALID');
  const other = { ...cp(13), root: tree.root(12) };
  assert.equal(code(verifyReceiptInCheckpoint(receipts[7]!, proof, other)), 'INCLUSION_PROOF_INVALID');
});

test('a newer checkpoint extends an older one of the same log, never shrinks or forks', () => {
  const proof = consistencyProof(tree, 9, 21);
  assert.equal(code(verifyCheckpointExtends(cp(9), cp(21), proof)), 'ok');
  assert.equal(code(verifyCheckpointExtends(cp(9), cp(21, 'agent-2'), proof)), 'CHECKPOINT_ORIGIN_MISMATCH');
  assert.equal(code(verifyCheckpointExtends(cp(21), cp(9), proof)), 'PROOF_RANGE_INVALID');
  assert.equal(code(verifyCheckpointExtends(cp(10), cp(21), proof)), 'CHECKPOINT_SIZE_MISMATCH');
  const forked = new MemoryTree([...receipts.slice(0, 15).map(leafHash), leafHash(new Uint8Array([1]))]);
  const fork: Checkpoint = { origin: 'agent-1', size: 16, root: forked.root(), extensions: [] };
  assert.equal(
    code(verifyCheckpointExtends(cp(9), fork, consistencyProof(tree, 9, 16))),
    'CONSISTENCY_PROOF_INVALID',
  );
  assert.equal(code(verifyCheckpointExtends(cp(9), cp(9), consistencyProof(tree, 9, 9))), 'ok');
});
