import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { type Check, L1_CHECKS, type ReceiptBody, type Verdict } from '@tmb/core';
import { CheckSlots, setCheck } from '../../src/appraise/checks.ts';
import { composeVerdict, type VerdictSources } from '../../src/appraise/verdict.ts';
import type { ResultBinding } from '../../src/ear.ts';
import { createResultSigner } from '../../src/ear.ts';
import type { KeyRecord, StoredReceipt } from '../../src/store/types.ts';
import { newKey, receiptBody, signBody } from '../fixtures.ts';

// A verdict is composed from a stored receipt and state handed in as arguments: no HTTP server,
// no request, no database. Stand-ins here play the store, the clock and the signer.

const k = newKey('gpu-1');
const body = receiptBody(k);
const wire = signBody(k, body);
const END_MS = body.time.end / 1000;
const stored: StoredReceipt = {
  id: body.id,
  requestId: body.request.id,
  agent: 'gpu-1',
  keyId: k.keyId,
  body: new Uint8Array(Buffer.from(wire.body, 'base64url')),
  sig: new Uint8Array(Buffer.from(wire.sig, 'base64url')),
  receivedAt: END_MS,
  seq: body.seq,
};
const enrolled: KeyRecord = { agent: 'gpu-1', keyId: k.keyId, key: k.raw, enrolledAt: 1_000 };
const L0_NAMES = ['receipt.format', 'receipt.signature', 'receipt.id', 'agent.enrolled', 'receipt.exchange'];

/** Sources for an agent with an enrolled key and no AK, at clock `now`; `signed` records what the signer got. */
function sources(now: number, over: Partial<VerdictSources> = {}) {
  const signed: { verdict: Verdict; binding: ResultBinding }[] = [];
  const unused = () => Promise.reject(new Error('an agent without an AK has no tree to read'));
  const s: VerdictSources = {
    store: {
      getKey: async (id) => (id === enrolled.keyId ? enrolled : undefined),
      getAttestRows: async (keys: readonly string[]) => keys.map(() => undefined),
    },
    attest: {
      now: () => now,
      inclusionDeadlineMs: 10_000,
      pending: new Set<string>(),
      segments: { of: async () => ({ segments: [], dropped: 0 }) },
      trees: { grow: unused, inclusionProof: unused },
      bundles: { covering: unused },
    },
    signer: {
      issue: async (verdict, binding) => {
        signed.push({ verdict, binding });
        return 'signed';
      },
    },
    ...over,
  };
  return { s, signed };
}

test('a verdict composes from a stored receipt and injected state, with no HTTP server', async () => {
  const { s, signed } = sources(END_MS);
  const r = await composeVerdict(s, stored);
  assert.deepEqual(r.body, body);
  assert.equal(r.agentKey, Buffer.from(k.raw).toString('base64url'));
  assert.equal(r.verdict.level, 'L0');
  assert.equal(r.verdict.ok, true);
  assert.deepEqual(
    r.verdict.checks.map((c) => c.name),
    [...L0_NAMES, ...L1_CHECKS],
  );
  // No AK yet, within the deadline: every L1 check is pending.
  for (const c of r.verdict.checks.slice(L0_NAMES.length)) {
    assert.equal(c.status, 'asserted');
    assert.match(c.detail, /^pending: /);
  }
  assert.equal(r.result, 'signed');
  assert.equal(signed.length, 1);
  assert.deepEqual(signed[0]!.verdict, r.verdict);
  assert.deepEqual(signed[0]!.binding, {
    receiptSha256: createHash('sha256').update(stored.body).digest('hex'),
    agentKey: r.agentKey,
    enrolment: { agent: 'gpu-1', keyId: k.keyId, enrolledAt: 1_000 },
    attestationSha256: null,
    ak: null,
  });
});

test('the injected clock decides pending or skipped, and the host and telemetry checks come last', async () => {
  const seen: Check[][] = [];
  const { s } = sources(END_MS + 10_000, {
    host: {
      refs: { registry: null, policy: null },
      view: async (agent) => (b: ReceiptBody) =>
        agent === 'gpu-1' && b.id === body.id
          ? [{ name: 'weights.allowed', status: 'skipped', detail: 'no weights measurement' }]
          : [],
    },
    telemetry: {
      check: async (_b, checks) => {
        seen.push([...checks]);
        return { name: 'telemetry.consistent', status: 'skipped', detail: 'no profile' };
      },
    },
  });
  const r = await composeVerdict(s, stored, { evidenceSha256: 'ab'.repeat(32) });
  const names = r.verdict.checks.map((c) => c.name);
  assert.deepEqual(names, [...L0_NAMES, ...L1_CHECKS, 'weights.allowed', 'telemetry.consistent']);
  // At the deadline an agent that never activated an AK has no L1 evidence: skipped, not pending.
  for (const name of L1_CHECKS)
    assert.equal(r.verdict.checks.find((c) => c.name === name)?.status, 'skipped');
  // Telemetry is judged on every check made before it.
  assert.deepEqual(
    seen[0]!.map((c) => c.name),
    names.slice(0, -1),
  );
  assert.equal(r.verdict.level, 'L0');
});

test('the bundle member is bound, and a real signer signs the composed verdict', async () => {
  const signer = createResultSigner();
  const { s } = sources(END_MS, { signer });
  const r = await composeVerdict(s, stored, { evidenceSha256: 'cd'.repeat(32) });
  const [, payload] = r.result!.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as {
    submods: Record<string, Record<string, unknown>>;
  };
  const sub = claims.submods['tmb-receipt']!;
  assert.equal(sub['tmb.level'], 'L0');
  assert.equal(sub['tmb.receipt-id'], body.id);
  assert.deepEqual(sub['tmb.checks'], r.verdict.checks);
  assert.equal(sub['tmb.evidence-sha256'], 'cd'.repeat(32));
});

test('a receipt whose stored key byte changed is judged by the key it was accepted under', async () => {
  // The body names another key than the one it was stored under: receipt.signature says the
  // accepting key's signature no longer verifies, at its own place in the list (setCheck).
  const other = newKey('gpu-1');
  const moved = { ...stored, keyId: other.keyId };
  const { s } = sources(END_MS, {
    store: {
      getKey: async (id) =>
        id === other.keyId ? { ...enrolled, keyId: other.keyId, key: other.raw } : undefined,
      getAttestRows: async (keys: readonly string[]) => keys.map(() => undefined),
    },
  });
  const r = await composeVerdict(s, moved);
  assert.deepEqual(
    r.verdict.checks.slice(0, L0_NAMES.length).map((c) => [c.name, c.status, c.code]),
    [
      ['receipt.format', 'pass', undefined],
      ['receipt.signature', 'fail', 'RECEIPT_SIGNATURE_INVALID'],
      ['receipt.id', 'pass', undefined],
      ['agent.enrolled', 'fail', 'AGENT_KEY_UNKNOWN'],
      ['receipt.exchange', 'asserted', undefined],
    ],
  );
  assert.equal(r.verdict.level, 'none');
});

test('setCheck replaces a check by name at its place, and rejects an unknown name', () => {
  const checks: Check[] = [
    { name: 'a', status: 'pass', detail: 'x' },
    { name: 'b', status: 'pass', detail: 'y' },
  ];
  setCheck(checks, 'b', { status: 'fail', code: 'RECEIPT_SIGNATURE_INVALID', detail: 'z' });
  assert.deepEqual(checks, [
    { name: 'a', status: 'pass', detail: 'x' },
    { name: 'b', status: 'fail', code: 'RECEIPT_SIGNATURE_INVALID', detail: 'z' },
  ]);
  // The name comes first on the wire, as every check is written.
  assert.deepEqual(Object.keys(checks[1]!), ['name', 'status', 'code', 'detail']);
  assert.throws(() => setCheck(checks, 'c', { status: 'pass', detail: '' }), RangeError);
  assert.throws(
    () => setCheck(checks, 'receipt.signature', { status: 'pass', detail: '' }),
    /receipt\.signature/,
  );
  assert.equal(checks.length, 2);
});

test('check slots keep their order, reject an unknown name and refuse to list an unset one', () => {
  const slots = new CheckSlots(['x.one', 'x.two'] as const);
  slots.set('x.two', { status: 'skipped', detail: 'later' });
  assert.throws(() => slots.list(), /x\.one/);
  // A name outside the slots is refused at run time too (a cast gets past the type check).
  assert.throws(() => slots.set('x.three' as 'x.one', { status: 'pass', detail: '' }), RangeError);
  slots.set('x.one', { name: 'x.one', status: 'pass', detail: 'kept as given' });
  assert.deepEqual(slots.list(), [
    { name: 'x.one', status: 'pass', detail: 'kept as given' },
    { name: 'x.two', status: 'skipped', detail: 'later' },
  ]);
});
