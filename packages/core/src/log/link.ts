import type { Checkpoint } from './checkpoint.ts';
import { leafHash } from './hash.ts';
import type { ConsistencyProof, InclusionProof } from './prove.ts';
import { type LogVerification, verifyConsistency, verifyInclusion } from './verify.ts';

// The two links of the evidence chain that join receipts and checkpoints (DESIGN.md step 5): a
// proof alone does not commit to a tree size, so each is checked against the size a signed
// checkpoint names. The checkpoints given here must come from openCheckpoint (signature verified).

/**
 * Whether `receipt` (the exact receipt body bytes, the log's leaf data) is included in the tree
 * that `checkpoint` signs. Never throws: CHECKPOINT_SIZE_MISMATCH when the proof is for another
 * size, else verifyInclusion's codes.
 */
export function verifyReceiptInCheckpoint(
  receipt: Uint8Array,
  proof: InclusionProof,
  checkpoint: Checkpoint,
): LogVerification {
  if (proof.size !== checkpoint.size)
    return {
      ok: false,
      code: 'CHECKPOINT_SIZE_MISMATCH',
      detail: `proof is for tree size ${proof.size}, the checkpoint signs size ${checkpoint.size}`,
    };
  return verifyInclusion(leafHash(receipt), proof, checkpoint.root);
}

/**
 * Whether `newer` extends `older`: same origin (CHECKPOINT_ORIGIN_MISMATCH), a proof between
 * exactly their sizes (CHECKPOINT_SIZE_MISMATCH), no shrinking (PROOF_RANGE_INVALID), and the
 * consistency proof holds (CONSISTENCY_PROOF_INVALID: the log forked or was rewritten).
 * Never throws.
 */
export function verifyCheckpointExtends(
  older: Checkpoint,
  newer: Checkpoint,
  proof: ConsistencyProof,
): LogVerification {
  if (older.origin !== newer.origin)
    return {
      ok: false,
      code: 'CHECKPOINT_ORIGIN_MISMATCH',
      detail: `checkpoints of two logs: ${JSON.stringify(older.origin)} and ${JSON.stringify(newer.origin)}`,
    };
  if (newer.size < older.size)
    return {
      ok: false,
      code: 'PROOF_RANGE_INVALID',
      detail: `the newer checkpoint's size ${newer.size} is below the older one's ${older.size}`,
    };
  if (proof.from !== older.size || proof.to !== newer.size)
    return {
      ok: false,
      code: 'CHECKPOINT_SIZE_MISMATCH',
      detail: `proof is from ${proof.from} to ${proof.to}, the checkpoints are at ${older.size} and ${newer.size}`,
    };
  return verifyConsistency(proof, older.root, newer.root);
}
