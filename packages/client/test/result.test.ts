import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { appraiseExchange, attestationDigest, type BoundResult, bindingCheck } from '@tmb/client';
import {
  type Check,
  ed25519Raw,
  encodeReceiptBody,
  L0_CHECKS,
  L1_CHECKS,
  type ReceiptBody,
  receiptSigningMessage,
  toBase64Url,
  toSignedReceipt,
} from '@tmb/core';
import fc from 'fast-check';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const raw = ed25519Raw(publicKey);
const request = new TextEncoder().encode('{"model":"m"}');
const response = new TextEncoder().encode('{"ok":true}');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const NONCE = 'n'.repeat(43);
const body: ReceiptBody = {
  v: 2,
  type: 'tmb.receipt',
  id: 'ab'.repeat(16),
  agent: 'a',
  key: sha(raw),
  seq: 0,
  request: {
    id: 'r',
    method: 'POST',
    path: '/v1/chat/completions',
    bytes: request.length,
    sha256: sha(request),
  },
  response: {
    status: 200,
    upstreamStatus: 200,
    stream: false,
    bytes: response.length,
    sha256: sha(response),
  },
  model: { requested: 'm', reported: 'm' },
  usage: { prompt: 1, completion: 1, total: 2 },
  time: { start: 1, firstByte: 2, end: 3 },
  outcome: 'complete',
  client: { nonce: NONCE },
  served: { weights: null, engine: null },
};
const bytes = encodeReceiptBody(body);
const sig = new Uint8Array(sign(null, receiptSigningMessage(bytes), privateKey));
const pass = (name: string): Check => ({ name, status: 'pass', detail: 'ok' });

function bound(over: Partial<BoundResult> = {}): BoundResult {
  return {
    level: 'L0',
    ok: true,
    checks: L0_CHECKS.map(pass),
    host: null,
    tpm: null,
    receiptSha256: sha(bytes),
    agentKey: toBase64Url(raw),
    enrolment: { agent: 'a', keyId: sha(raw), enrolledAt: 1_700_000_000_000 },
    attestationSha256: null,
    ak: null,
    ...over,
  };
}

function appraise(b: BoundResult | null, unsigned: Check[] = []) {
  return appraiseExchange({
    receiptId: body.id,
    requestId: 'r',
    request,
    response: { bytes: response, end: 'complete' },
    nonce: NONCE,
    checks: ['client.receipt_header', 'verifier.source', 'verifier.answer'].map(pass),
    answer: {
      receipt: toSignedReceipt(bytes, sig),
      body,
      agentKey: toBase64Url(raw),
      verdict: { receiptId: body.id, requestId: 'r', level: 'L2', ok: true, checks: unsigned },
    },
    ...(b === null ? {} : { resultCheck: { name: 'verifier.result', status: 'pass', detail: '' }, bound: b }),
  });
}

test('with a verified result every own check passes at the signed level; without one, none', () => {
  const r = appraise(bound());
  assert.deepEqual(
    r.checks.filter((c) => c.status !== 'pass').map((c) => c.name),
    [],
  );
  assert.deepEqual([r.level, r.ok], ['L0', true]);
  // The unsigned verdict says L2 with every L1 check passing: it counts for nothing.
  const unsigned = appraise(null, [...L0_CHECKS, ...L1_CHECKS].map(pass));
  assert.deepEqual([unsigned.level, unsigned.ok], ['none', false]);
  assert.equal(unsigned.checks.find((c) => c.name === 'verifier.result')?.code, 'VERIFIER_NOT_CONFIGURED');
  assert.equal(
    unsigned.checks.some((c) => c.name === 'quote.signature'),
    false,
  );
});

test("the client's level never exceeds the signed tmb.level, and follows the signed checks", () => {
  const l1 = [...L0_CHECKS, ...L1_CHECKS].map(pass);
  assert.equal(appraise(bound({ level: 'L1', checks: l1 })).level, 'L1');
  assert.equal(appraise(bound({ level: 'L0', checks: l1 })).level, 'L0');
  const r = appraise(bound({ level: 'L1', checks: l1.filter((c) => c.name !== 'quote.nonce') }));
  assert.equal(r.level, 'L0');
  assert.equal(r.checks.find((c) => c.name === 'quote.nonce')?.code, 'VERIFIER_ANSWER_INVALID');
  // tmb.ok false: not ok, even though nothing the client holds failed.
  assert.equal(appraise(bound({ ok: false })).ok, false);
});

// The checks only the verifier can make (it alone holds measurements and telemetry samples) are
// passed on "per the verifier" from its signed result; unknown codes are dropped.
test('registry, telemetry and other signed checks are passed on; unknown codes are dropped', () => {
  const r = appraise(
    bound({
      checks: [
        ...L0_CHECKS.map(pass),
        {
          name: 'weights.allowed',
          status: 'fail',
          code: 'WEIGHTS_NOT_ALLOWED',
          detail: 'these weights are sample-1b',
        },
        { name: 'telemetry.consistent', status: 'fail', code: 'TELEMETRY_INCONSISTENT', detail: 'score -25' },
        { name: 'host.engine', status: 'fail', code: 'NOT_A_CODE' as never, detail: 'unknown code' },
        { name: 'receipt.exchange', status: 'asserted', detail: 'only the client can say' },
      ],
    }),
  );
  const by = new Map(r.checks.map((c) => [c.name, c]));
  assert.equal(by.get('weights.allowed')?.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(by.get('weights.allowed')!.detail, /^per the verifier: /);
  assert.equal(by.get('telemetry.consistent')?.code, 'TELEMETRY_INCONSISTENT');
  assert.equal(by.get('host.engine')?.status, 'fail');
  assert.equal(by.get('host.engine')?.code, undefined, 'an unknown code is dropped, the failure kept');
  assert.equal(by.has('receipt.exchange'), false, 'said by the client hash checks instead');
  assert.equal(r.ok, false);
  assert.equal(r.level, 'L0', 'the receipt holds; the host checks fail');
  assert.equal(
    appraise(bound({ checks: [...L0_CHECKS.map(pass), { name: 'x.y', status: 'fail', detail: '' }] })).level,
    'none',
  );
});

test('agent.enrolled comes from the signed enrolment of the key the receipt names', () => {
  const other = appraise(bound({ enrolment: { agent: 'b', keyId: sha(raw), enrolledAt: 1 } }));
  const c = other.checks.find((x) => x.name === 'agent.enrolled');
  assert.deepEqual([c?.status, c?.code], ['fail', 'AGENT_KEY_NOT_ENROLLED']);
  assert.equal(other.level, 'none');
  const none = appraise(bound({ enrolment: null }));
  assert.equal(none.checks.find((x) => x.name === 'agent.enrolled')?.status, 'fail');
});

test('a v1 receipt, or one with another nonce, fails client.nonce', () => {
  const r = appraiseExchange({
    receiptId: body.id,
    requestId: 'r',
    request,
    response: { bytes: response, end: 'complete' },
    nonce: 'm'.repeat(43),
    checks: [],
    answer: {
      receipt: toSignedReceipt(bytes, sig),
      body,
      agentKey: toBase64Url(raw),
      verdict: { receiptId: body.id, requestId: 'r', level: 'L0', ok: true, checks: [] },
    },
    resultCheck: { name: 'verifier.result', status: 'pass', detail: '' },
    bound: bound(),
  });
  const c = r.checks.find((x) => x.name === 'client.nonce');
  assert.deepEqual([c?.status, c?.code], ['fail', 'CLIENT_NONCE_MISMATCH']);
  assert.deepEqual([r.level, r.ok], ['none', false]);
});

test('property: an answer whose receipt, agentKey or attestation differs from the signed digests is never ok', () => {
  const attestation = { checkpoint: 'c', checkpointKey: 'k', proof: { v: 1, index: 0, size: 1, hashes: [] } };
  const signed = bound({ attestationSha256: attestationDigest(attestation) });
  fc.assert(
    fc.property(
      fc.record({
        agentKey: fc.option(fc.string(), { nil: null }),
        attestation: fc.option(fc.jsonValue(), { nil: undefined }),
        flip: fc.option(fc.nat(bytes.length - 1), { nil: undefined }),
      }),
      ({ agentKey, attestation: a, flip }) => {
        const receiptBytes = new Uint8Array(bytes);
        if (flip !== undefined) receiptBytes[flip]! ^= 1;
        const b = bindingCheck(signed, { receiptBytes, agentKey, attestation: a as never });
        const same =
          flip === undefined &&
          agentKey === signed.agentKey &&
          JSON.stringify(a) === JSON.stringify(attestation);
        if (!same) assert.deepEqual([b.check.status, b.check.code], ['fail', 'RESULT_BINDING_MISMATCH']);
      },
    ),
    { numRuns: 300 },
  );
  const ok = bindingCheck(signed, { receiptBytes: bytes, agentKey: signed.agentKey, attestation });
  assert.equal(ok.check.status, 'pass');
  // The same members in another key order: canonical JSON, the same digest.
  const reordered = { proof: attestation.proof, checkpointKey: 'k', checkpoint: 'c' };
  assert.equal(
    bindingCheck(signed, { receiptBytes: bytes, agentKey: signed.agentKey, attestation: reordered }).check
      .status,
    'pass',
  );
});
