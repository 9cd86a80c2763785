import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { test } from 'node:test';
import {
  type Check,
  encodeReceiptBody,
  L0_CHECKS,
  L1_CHECKS,
  levelOf,
  type ReceiptBody,
  toBase64,
} from '@tmb/core';
import type { HostSegment } from '@tmb/core/host';
import { ed25519NoteSigner, leafHash, MemoryTree, signCheckpoint } from '@tmb/core/log';
import { l1Checks } from '../../src/appraise/l1.ts';
import { createAttestService } from '../../src/attest/service.ts';
import { type AgentAttest, loadAttest, saveAttest } from '../../src/attest/state.ts';
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

/** receiptBody's fixed time.end, in ms: the inclusion deadline runs from here. */
const END_MS = bodies[2]!.time.end / 1000;

/** A checkpoint key the AK certified for the bound receipt key (POST /v1/attest/checkpoint-key). */
const CERTIFIED = {
  keyName: '000bcafe',
  keyPublic: 'AAAA',
  receiptKeyId: bound.keyId,
  certifiedAt: 0,
  resetCount: 1,
  akName: '000b',
  certify: { attest: 'AAAA', signature: 'AAAA', nonce: '00'.repeat(32) },
};

async function setup(checkpointNote = note, now = END_MS, tpm = true) {
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
    checkpointKeys: tpm ? [CERTIFIED] : [],
    checkpoint: {
      note: checkpointNote,
      size: 2,
      root: toBase64(tree.root(2)),
      keyId: bound.keyId,
      ...(tpm ? { tpmKeyName: CERTIFIED.keyName } : {}),
    },
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
  const clock = { now };
  return {
    store,
    clock,
    attest: createAttestService(store, {
      roots: [],
      nonceTtlMs: 1000,
      now: () => clock.now,
      inclusionDeadlineMs: 10_000,
    }),
  };
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

/** The L0 checks as a verifier passes them, to read a level from L1 checks. */
const L0_PASS: Check[] = L0_CHECKS.map((name) => ({ name, status: 'pass', detail: 'ok' }));

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

test('regression: a key in a tmb.agent-key PCR event but certified by no TPM key fails key.bound', async () => {
  // Any root process can extend a PCR: the event alone (state.bound) no longer binds a key.
  const { store, attest } = await setup(note, END_MS, false);
  const r = await l1Checks(store, attest, stored(0), bodies[0]!);
  assert.equal(by(r.checks, 'key.bound').code, 'KEY_NOT_BOUND');
  assert.equal(r.attestation?.tpmKey, null);
});

test('a covered receipt of a certified key names the TPM key and its certification in the attestation', async () => {
  const { store, attest } = await setup();
  const r = await l1Checks(store, attest, stored(0), bodies[0]!);
  assert.equal(by(r.checks, 'key.bound').status, 'pass');
  assert.deepEqual(r.attestation?.tpmKey, {
    type: 'tpm-p256',
    public: CERTIFIED.keyPublic,
    certify: { ...CERTIFIED.certify, receiptKeyId: bound.keyId },
  });
});

test('a receipt past the quoted size is pending, not failed, until the inclusion deadline', async () => {
  const { store, attest, clock } = await setup();
  const late = { ...stored(2), receivedAt: END_MS + 60_000 };
  for (const now of [END_MS, END_MS + 9_999]) {
    clock.now = now;
    const r = await l1Checks(store, attest, late, bodies[2]!);
    assert.equal(by(r.checks, 'receipt.included').status, 'asserted');
    assert.match(by(r.checks, 'receipt.included').detail, /^pending: /);
    assert.equal(r.attestation, undefined);
    assert.ok(r.checks.every((c) => c.status !== 'fail'));
  }
});

test('regression: a receipt no quote covers within the deadline after its end fails RECEIPT_NOT_INCLUDED, not pending forever', async () => {
  // The agent's quotes stopped after a checkpoint of size 2: receipt 2 is never covered.
  const { store, attest, clock } = await setup();
  clock.now = END_MS + 10_000;
  const late = { ...stored(2), receivedAt: END_MS + 60_000 };
  const r = await l1Checks(store, attest, late, bodies[2]!);
  const c = by(r.checks, 'receipt.included');
  assert.equal(c.status, 'fail');
  assert.equal(c.code, 'RECEIPT_NOT_INCLUDED');
  // The covered receipts keep passing: only the uncovered one fails.
  assert.equal(
    by((await l1Checks(store, attest, stored(0), bodies[0]!)).checks, 'receipt.included').status,
    'pass',
  );
});

test('the inclusion deadline runs from when the receipt arrived when its claimed end is later', async () => {
  // A provider that dates receipts in the future cannot keep them pending: the verifier's own
  // receipt time bounds the start of the deadline.
  const { store, attest, clock } = await setup();
  const future = { ...bodies[2]!, time: { ...bodies[2]!.time, end: (END_MS + 3_600_000) * 1000 } };
  const arrived = { ...stored(2), receivedAt: END_MS };
  clock.now = END_MS + 10_000;
  const r = await l1Checks(store, attest, arrived, future);
  assert.equal(by(r.checks, 'receipt.included').code, 'RECEIPT_NOT_INCLUDED');
});

test('an agent that enrolled an AK and never had a quote accepted: its receipts fail after the deadline', async () => {
  const { store, attest, clock } = await setup();
  const s = (await loadAttest(store, 'gpu-1'))!;
  await saveAttest(store, 'gpu-1', { ...s, checkpoint: null, quote: null, checks: [] });
  const arrived = { ...stored(0), receivedAt: END_MS + 1_000 };
  clock.now = END_MS + 9_000;
  assert.equal(
    by((await l1Checks(store, attest, arrived, bodies[0]!)).checks, 'receipt.included').status,
    'asserted',
  );
  clock.now = END_MS + 12_000;
  const r = await l1Checks(store, attest, arrived, bodies[0]!);
  assert.equal(by(r.checks, 'receipt.included').code, 'RECEIPT_NOT_INCLUDED');
});

test('a stored body changed at rest fails receipt.included', async () => {
  const { store, attest } = await setup();
  const changed = new Uint8Array(bytes[0]!);
  changed[changed.length - 2] ^= 1;
  const r = await l1Checks(store, attest, stored(0, changed), bodies[0]!);
  assert.equal(by(r.checks, 'receipt.included').code, 'INCLUSION_PROOF_INVALID');
});

// Issue 10 (soak): a receipt served before the agent's AK was activated read `L0, ok: true` with
// no L1 check at all, and 30 s later L1: a client could not tell "no TPM" from "not enrolled
// yet", and waitForQuoteMs did not wait.
test('regression: a receipt of an agent with no activated AK yet carries every L1 check as pending until the deadline', async () => {
  const { store, attest, clock } = await setup();
  const other = newKey('gpu-2');
  const b = receiptBody(other, { seq: 0 });
  const row = { ...stored(0), agent: 'gpu-2', receivedAt: END_MS + 60_000 };
  for (const now of [END_MS, END_MS + 9_999]) {
    clock.now = now;
    const r = await l1Checks(store, attest, row, b);
    assert.deepEqual(
      r.checks.map((c) => c.name),
      [...L1_CHECKS],
    );
    for (const c of r.checks) {
      assert.equal(c.status, 'asserted');
      assert.match(c.detail, /^pending: the agent's TPM is not enrolled yet/);
    }
    assert.equal(r.noAk, true);
    // As the verifier's answer puts it: L0, ok, with receipt.included pending (clients wait).
    assert.equal(levelOf([...L0_PASS, ...r.checks]), 'L0');
  }
});

test('an agent that never activated an AK: after the deadline its L1 checks are skipped, not failed', async () => {
  const { store, attest, clock } = await setup();
  const other = newKey('gpu-2');
  const b = receiptBody(other, { seq: 0 });
  clock.now = END_MS + 10_000;
  const r = await l1Checks(store, attest, { ...stored(0), agent: 'gpu-2', receivedAt: END_MS + 60_000 }, b);
  assert.deepEqual(
    r.checks.map((c) => c.name),
    [...L1_CHECKS],
  );
  for (const c of r.checks) {
    assert.equal(c.status, 'skipped');
    assert.equal(c.code, undefined);
    assert.match(c.detail, /^the agent has no TPM attestation for this receipt/);
  }
});

test('an AK activated after the deadline brings the ordinary checks back: a receipt its quotes never cover fails RECEIPT_NOT_INCLUDED', async () => {
  const { store, attest, clock } = await setup();
  const other = newKey('gpu-2');
  const b = receiptBody(other, { seq: 5 });
  const row = { ...stored(0), agent: 'gpu-2', seq: 5, receivedAt: END_MS };
  clock.now = END_MS + 20_000;
  const before = await l1Checks(store, attest, row, b);
  assert.ok(before.checks.every((c) => c.status === 'skipped'));
  // Now the agent has an AK whose latest quoted checkpoint (size 2) leaves seq 5 out.
  await saveAttest(store, 'gpu-2', (await loadAttest(store, 'gpu-1'))!);
  const after = await l1Checks(store, attest, row, b);
  assert.equal(after.noAk, undefined);
  assert.equal(by(after.checks, 'host.ak_activated').status, 'pass');
  assert.equal(by(after.checks, 'receipt.included').code, 'RECEIPT_NOT_INCLUDED');
});

test('regression: after the inclusion deadline, key.bound, host.integrity and host.boot no longer say pending', async () => {
  // No certified checkpoint key: key.bound waits for a quote too.
  const { store, attest, clock } = await setup(note, END_MS, false);
  const late = { ...stored(2), receivedAt: END_MS + 60_000 };
  clock.now = END_MS + 9_999;
  const before = await l1Checks(store, attest, late, bodies[2]!);
  for (const name of ['key.bound', 'host.integrity', 'host.boot']) {
    assert.equal(by(before.checks, name).status, 'asserted');
    assert.match(by(before.checks, name).detail, /^pending: /);
  }
  clock.now = END_MS + 10_000;
  const r = await l1Checks(store, attest, late, bodies[2]!);
  assert.equal(by(r.checks, 'receipt.included').code, 'RECEIPT_NOT_INCLUDED');
  for (const name of ['key.bound', 'host.integrity', 'host.boot']) {
    assert.equal(by(r.checks, name).status, 'skipped');
    assert.match(by(r.checks, name).detail, /^no quote covered this receipt/);
  }
  assert.ok(r.checks.every((c) => !c.detail.includes('pending')));
});
