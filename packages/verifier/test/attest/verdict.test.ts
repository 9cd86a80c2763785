import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { test } from 'node:test';
import { type Check, encodeReceiptBody, type ReceiptBody, toBase64 } from '@tmb/core';
import type { HostSegment } from '@tmb/core/host';
import { ed25519NoteSigner, leafHash, MemoryTree, signCheckpoint } from '@tmb/core/log';
import { createAttestService } from '../../src/attest/service.ts';
import { type AgentAttest, saveAttest } from '../../src/attest/state.ts';
import { l1Checks } from '../../src/attest/verdict.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { StoredReceipt } from '../../src/store/types.ts';
import { newKey, receiptBody } from '../fixtures.ts';

// The per-receipt L1 checks from a stored attestation state: which receipts a quoted checkpoint
// covers, whose keys were bound, and inclusion recomputed from the stored bytes.

const bound = newKey('gpu-1');
const unbound = newKey('gpu-1');
const bodies: ReceiptBody[] = [0, 1, 2].map((seq) => receiptBody(seq === 1 ? unbound : bound, { seq }));
const bytes = bodies.map((b) => encodeReceiptBody(b));
const tree = new MemoryTree(bytes.map(leafHash));

function stored(i: number, body = bytes[i]!): StoredReceipt {
  const b = bodies[i]!;
  return {
    id: b.id,
    requestId: b.request.id,
    agent: 'gpu-1',
    keyId: b.key,
    body,
    sig: new Uint8Array(64),
    receivedAt: 0,
    seq: i,
  };
}

const ORIGIN = 'tmb/agent/gpu-1';
const TELEMETRY = `tmb-telemetry 3 ${toBase64(new Uint8Array(32).fill(7))}`;
const signer = ed25519NoteSigner(ORIGIN, bound.raw, (t) => new Uint8Array(sign(null, t, bound.privateKey)));
// The quoted note as the agent signs it: with its telemetry extension line.
const note = await signCheckpoint({ origin: ORIGIN, size: 2, root: tree.root(2), extensions: [TELEMETRY] }, [
  signer,
]);

async function setup(checkpointNote = note) {
  const store = new SqliteStore(':memory:');
  await store.putReceipts([0, 1, 2].map((i) => stored(i)));
  await store.addKey({ agent: 'gpu-1', keyId: bound.keyId, key: bound.raw, enrolledAt: 0 });
  const pass = (name: string) => ({ name, status: 'pass' as const, detail: 'ok' });
  const state: AgentAttest = {
    ekPublic: '',
    ekCheck: pass('host.ek_certificate'),
    akPublic: '',
    akName: '000b',
    activatedAt: 0,
    pcr: 15,
    clock: null,
    ima: null,
    bound: [bound.keyId],
    // A quoted checkpoint of size 2: receipts 0 and 1 are covered, 2 is not yet.
    checkpoint: { note: checkpointNote, size: 2, root: toBase64(tree.root(2)), keyId: bound.keyId },
    checks: [
      'quote.signature',
      'quote.nonce',
      'quote.clock',
      'quote.pcr_digest',
      'log.replay',
      'checkpoint.signature',
      'checkpoint.consistent',
    ].map(pass),
    quote: { attest: '', signature: '', pcrs: '', nonce: '' },
    acceptedAt: 0,
  };
  await saveAttest(store, 'gpu-1', state);
  return { store, attest: createAttestService(store, { roots: [], nonceTtlMs: 1000 }) };
}

/** A segment of a host whose every check passed, established by a quote of `size`. */
function segment(size: number): HostSegment {
  const ok = { status: 'pass' as const, detail: 'ok' };
  return {
    size,
    resetCount: 1,
    host: { kernel: 'simulated', boot: 'simulated', secureBoot: null },
    integrity: ok,
    boot: ok,
    engine: ok,
    agent: ok,
    tool: ok,
    weights: [],
  };
}

const by = (checks: Check[], name: string): Check => {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `no ${name} check`);
  return c;
};

test('a covered receipt signed by a bound key passes every L1 check and carries its proof', async () => {
  const { store, attest } = await setup();
  await attest.segments.record('gpu-1', segment(2));
  const r = await l1Checks(store, attest, stored(0), bodies[0]!);
  assert.deepEqual(
    r.checks.filter((c) => c.status !== 'pass'),
    [],
  );
  assert.equal(r.attestation?.proof.index, 0);
  assert.equal(r.attestation?.proof.size, 2);
  // The note is served as signed, extension line included.
  assert.equal(r.attestation?.checkpoint, note);
  assert.ok(note.includes(`\n${TELEMETRY}\n`));
});

test('a covered receipt with no host segment (a quote before kernel appraisal) does not pass host.integrity', async () => {
  const { store, attest } = await setup();
  const r = await l1Checks(store, attest, stored(0), bodies[0]!);
  assert.equal(by(r.checks, 'host.integrity').status, 'skipped');
  assert.equal(by(r.checks, 'host.boot').status, 'skipped');
});

test('a stored quoted note that no longer verifies under its key fails receipt.included', async () => {
  const { store, attest } = await setup(note.replace(TELEMETRY, TELEMETRY.replace('3', '4')));
  const r = await l1Checks(store, attest, stored(0), bodies[0]!);
  assert.equal(by(r.checks, 'receipt.included').code, 'NOTE_SIGNATURE_INVALID');
  assert.equal(r.attestation, undefined);
});

test('a covered receipt signed by a key never bound fails key.bound', async () => {
  const { store, attest } = await setup();
  const r = await l1Checks(store, attest, stored(1), bodies[1]!);
  assert.equal(by(r.checks, 'key.bound').code, 'KEY_NOT_BOUND');
  assert.equal(by(r.checks, 'receipt.included').status, 'pass');
});

test('a receipt past the quoted size is pending, not failed', async () => {
  const { store, attest } = await setup();
  const r = await l1Checks(store, attest, stored(2), bodies[2]!);
  assert.equal(by(r.checks, 'receipt.included').status, 'asserted');
  assert.equal(r.attestation, undefined);
  assert.ok(r.checks.every((c) => c.status !== 'fail'));
});

test('a stored body changed at rest fails receipt.included', async () => {
  const { store, attest } = await setup();
  const changed = new Uint8Array(bytes[0]!);
  changed[changed.length - 2] ^= 1;
  const r = await l1Checks(store, attest, stored(0, changed), bodies[0]!);
  assert.equal(by(r.checks, 'receipt.included').code, 'INCLUSION_PROOF_INVALID');
});

test('an agent without an AK gets no L1 checks', async () => {
  const { store, attest } = await setup();
  const other = newKey('gpu-2');
  const b = receiptBody(other, { seq: 0 });
  const r = await l1Checks(store, attest, { ...stored(0), agent: 'gpu-2' }, b);
  assert.deepEqual(r.checks, []);
});
