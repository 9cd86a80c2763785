import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fromHex, toHex } from '@tmb/core';
import {
  consistencyProof,
  decodeConsistencyProof,
  decodeInclusionProof,
  EMPTY_ROOT,
  formatCheckpoint,
  formatVerifierKey,
  inclusionProof,
  leafHash,
  MemoryTree,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
} from '@tmb/core/log';

const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`../vectors/log/${name}`, import.meta.url), 'utf8'));
const tree = load('tree.json');
const hashes = (list: string[]) => list.map(fromHex);
const reference = new MemoryTree((tree.leafInputs as string[]).map((h) => leafHash(fromHex(h))));

test('roots of the transparency-dev reference tree match, sizes 0 to 8', () => {
  assert.equal(toHex(EMPTY_ROOT), tree.referenceRoots[0]);
  for (let n = 0; n <= 8; n++) assert.equal(toHex(reference.root(n)), tree.referenceRoots[n], `size ${n}`);
});

test('inclusion proofs match the reference proofs and verify', () => {
  for (const v of tree.referenceInclusion) {
    const p = inclusionProof(reference, v.index, v.size);
    assert.deepEqual(p.hashes.map(toHex), v.hashes);
  }
  for (const v of tree.inclusion) {
    const p = { index: v.index, size: v.size, hashes: hashes(v.hashes) };
    assert.deepEqual(inclusionProof(reference, v.index, v.size), p);
    const r = verifyInclusion(reference.node(0, v.index), p, fromHex(tree.roots[v.size]));
    assert.equal(r.ok, true, `${v.index}/${v.size}: ${r.detail}`);
  }
});

test('consistency proofs match the reference proofs and verify', () => {
  for (const v of tree.referenceConsistency) {
    assert.deepEqual(consistencyProof(reference, v.from, v.to).hashes.map(toHex), v.hashes);
  }
  for (const v of tree.consistency) {
    const p = { from: v.from, to: v.to, hashes: hashes(v.hashes) };
    assert.deepEqual(consistencyProof(reference, v.from, v.to), p);
    const r = verifyConsistency(p, fromHex(tree.roots[v.from]), fromHex(tree.roots[v.to]));
    assert.equal(r.ok, true, `${v.from}->${v.to}: ${r.detail}`);
  }
});

test('the Go sumdb/note PeterNeumann note verifies and our signature reproduces it', () => {
  const v = load('note.json');
  assert.equal(v.note, v.referenceNote);
  const verifier = parseVerifierKey(v.vkey);
  assert.equal(verifier.name, 'PeterNeumann');
  assert.equal(verifier.keyId, 0xc74f20a3);
  assert.equal(formatVerifierKey('PeterNeumann', fromHex(v.publicKey)), v.vkey);
  const opened = openNote(v.referenceNote, [verifier]);
  assert.ok(opened.ok);
  assert.equal(opened.text, v.text);
  const flipped = openNote(v.referenceNote.replace('cryptography', 'cryptographY'), [verifier]);
  assert.equal(flipped.ok ? 'ok' : flipped.code, 'NOTE_SIGNATURE_INVALID');
});

test('TMB checkpoint vectors open under the agent key and name their roots', () => {
  const v = load('checkpoint.json');
  const key = parseVerifierKey(v.vkey);
  for (const c of v.checkpoints) {
    const r = openCheckpoint(c.note, [key], v.origin);
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.checkpoint.size, c.size);
    assert.equal(toHex(r.checkpoint.root), tree.roots[c.size]);
    assert.equal(formatCheckpoint(r.checkpoint), r.text);
  }
  const witness = parseVerifierKey(v.witnessVkey);
  const both = openCheckpoint(v.cosigned, [key, witness], v.origin);
  assert.deepEqual(both.ok && both.verifiedBy, [v.origin, 'tmb.example/witness']);
  const onlyWitness = openCheckpoint(v.cosigned, [witness]);
  assert.deepEqual(onlyWitness.ok && onlyWitness.verifiedBy, ['tmb.example/witness']);
});

test('the c2sp.org/tlog-checkpoint example body parses and formats back byte for byte', () => {
  const { c2spExample: ex } = load('checkpoint.json');
  const cp = parseCheckpoint(ex.text);
  assert.equal(cp.origin, ex.origin);
  assert.equal(cp.size, ex.size);
  assert.equal(toHex(cp.root), ex.root);
  assert.equal(formatCheckpoint(cp), ex.text);
});

test('the docs/proofs.md wire examples decode and verify', () => {
  const v = load('proofs.json');
  const inc = decodeInclusionProof(v.inclusion);
  assert.equal(verifyInclusion(fromHex(v.leafHash), inc, fromHex(v.root)).ok, true);
  const con = decodeConsistencyProof(v.consistency);
  assert.equal(verifyConsistency(con, fromHex(v.fromRoot), fromHex(v.root)).ok, true);
});
