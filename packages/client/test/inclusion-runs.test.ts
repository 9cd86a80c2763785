import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { type Check, ed25519Raw, L1_CHECKS, type ReceiptBody, utf8 } from '@tmb/core';
import {
  ed25519NoteSigner,
  encodeInclusionProof,
  formatRunLine,
  inclusionProof,
  leafHash,
  MemoryTree,
  signCheckpoint,
} from '@tmb/core/log';
import { l1ClientChecks } from '../src/inclusion.ts';

// Issue 10, log runs (docs/proofs.md, "Log runs"): a receipt with seq s is leaf s - base of its
// run's tree, base taken from the checkpoint's `tmb-run` line (absent: 0).

const BASE = 40;
const leaves = [0, 1, 2, 3, 4].map((i) => utf8(`receipt ${BASE + i}`));
const tree = new MemoryTree(leaves.map(leafHash));
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const raw = ed25519Raw(publicKey);
const origin = 'tmb/agent/gpu-1';
const signer = ed25519NoteSigner(origin, raw, (t) => new Uint8Array(sign(null, t, privateKey)));
const noteWith = (extensions: string[]) =>
  signCheckpoint({ origin, size: 5, root: tree.root(), extensions }, [signer]);
const verdict: Check[] = L1_CHECKS.map((name) => ({ name, status: 'pass', detail: 'ok' }));

async function included(seq: number, index: number, extensions: string[]) {
  const a = {
    checkpoint: await noteWith(extensions),
    checkpointKey: Buffer.from(raw).toString('base64url'),
    proof: encodeInclusionProof(inclusionProof(tree, index, 5)),
  };
  const body = { agent: 'gpu-1', seq } as ReceiptBody;
  return l1ClientChecks(verdict, body, leaves[index]!, a).find((c) => c.name === 'receipt.included')!;
}

test('a receipt of run 2 is checked at leaf seq - base', async () => {
  const c = await included(BASE + 3, 3, [formatRunLine({ run: 2, base: BASE })]);
  assert.equal(c.status, 'pass', c.detail);
  assert.match(c.detail, /leaf 3 \(log run 2, from seq 40\)/);
  // With a telemetry line after it, as agents write it.
  const t = await included(BASE + 1, 1, [
    formatRunLine({ run: 2, base: BASE }),
    `tmb-telemetry 1 ${'A'.repeat(43)}=`,
  ]);
  assert.equal(t.status, 'pass', t.detail);
});

test('the leaf index must be seq - base: the run-0 index, or a seq before the base, fails', async () => {
  const run = [formatRunLine({ run: 2, base: BASE })];
  // A proof of leaf 3 for receipt #3 (as if run 0) against a run that starts at 40.
  assert.equal((await included(3, 3, run)).code, 'INCLUSION_PROOF_INVALID');
  // Without the run line the same proof is read as run 0: leaf 3 is receipt #3, not #43.
  assert.equal((await included(BASE + 3, 3, [])).code, 'INCLUSION_PROOF_INVALID');
  // A base one off moves every leaf.
  assert.equal(
    (await included(BASE + 3, 3, [formatRunLine({ run: 2, base: BASE + 1 })])).code,
    'INCLUSION_PROOF_INVALID',
  );
});

test('a checkpoint whose run line is malformed fails receipt.included with LOG_RUN_LINE_INVALID', async () => {
  for (const ext of [['tmb-run 0 40'], ['tmb-run 2 040'], ['tmb-run 2'], ['tmb-run 2 40', 'tmb-run 2 40']]) {
    const c = await included(BASE + 3, 3, ext);
    assert.equal(c.status, 'fail', ext.join('|'));
    assert.equal(c.code, 'LOG_RUN_LINE_INVALID', ext.join('|'));
  }
});
