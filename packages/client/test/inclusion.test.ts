import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { type Check, ed25519Raw, L1_CHECKS, type ReceiptBody, utf8 } from '@tmb/core';
import {
  ed25519NoteSigner,
  encodeInclusionProof,
  inclusionProof,
  leafHash,
  MemoryTree,
  signCheckpoint,
} from '@tmb/core/log';
import { l1ClientChecks } from '../src/inclusion.ts';

const leaves = [0, 1, 2, 3, 4].map((i) => utf8(`receipt ${i}`));
const tree = new MemoryTree(leaves.map(leafHash));
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const raw = ed25519Raw(publicKey);
const origin = 'tmb/agent/gpu-1';
const note = await signCheckpoint({ origin, size: 5, root: tree.root(), extensions: [] }, [
  ed25519NoteSigner(origin, raw, (t) => new Uint8Array(sign(null, t, privateKey))),
]);
const body = { agent: 'gpu-1', seq: 3 } as ReceiptBody;
const verdict: Check[] = L1_CHECKS.map((name) => ({ name, status: 'pass', detail: 'ok' }));
const attestation = {
  checkpoint: note,
  checkpointKey: Buffer.from(raw).toString('base64url'),
  proof: encodeInclusionProof(inclusionProof(tree, 3, 5)),
};
const included = (a: typeof attestation, bytes = leaves[3]!) =>
  l1ClientChecks(verdict, body, bytes, a).find((c) => c.name === 'receipt.included')!;

test('the client checks inclusion itself and copies the other L1 checks from the verifier', () => {
  const checks = l1ClientChecks(verdict, body, leaves[3]!, attestation);
  assert.deepEqual(
    checks.map((c) => c.name),
    [...L1_CHECKS],
  );
  assert.equal(included(attestation).status, 'pass');
  assert.match(included(attestation).detail, /^checked here/);
  assert.match(checks[0]!.detail, /^per the verifier/);
});

test('tampered inclusion evidence is named', () => {
  const badHash = structuredClone(attestation);
  badHash.proof.hashes[0] = Buffer.alloc(32).toString('base64');
  assert.equal(included(badHash).code, 'INCLUSION_PROOF_INVALID');
  assert.equal(included(attestation, utf8('another receipt')).code, 'INCLUSION_PROOF_INVALID');
  const otherIndex = { ...attestation, proof: encodeInclusionProof(inclusionProof(tree, 2, 5)) };
  assert.equal(included(otherIndex).code, 'INCLUSION_PROOF_INVALID');
  const otherKey = { ...attestation, checkpointKey: Buffer.alloc(32, 7).toString('base64url') };
  assert.equal(included(otherKey).status, 'fail');
  const otherAgent = l1ClientChecks(verdict, { ...body, agent: 'gpu-2' }, leaves[3]!, attestation);
  assert.equal(otherAgent.find((c) => c.name === 'receipt.included')!.status, 'fail');
  assert.equal(included({ ...attestation, proof: { v: 2 } } as never).code, 'PROOF_VERSION_UNSUPPORTED');
});

test('a verdict without L1 checks adds none (an agent without a TPM)', () => {
  assert.deepEqual(
    l1ClientChecks([{ name: 'receipt.format', status: 'pass', detail: '' }], body, leaves[3]!, undefined),
    [],
  );
});
