import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { appraiseExchange } from '@tmb/client';
import {
  type Check,
  ed25519Raw,
  encodeReceiptBody,
  type ReceiptBody,
  receiptSigningMessage,
  toBase64Url,
  toSignedReceipt,
} from '@tmb/core';

// The checks only the verifier can make (it alone holds measurements and telemetry samples) are
// passed on "per the verifier"; anything else the verifier says is not taken on its word.
test('registry and telemetry checks are passed on from the verdict; unknown checks and codes are not', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = ed25519Raw(publicKey);
  const request = new TextEncoder().encode('{"model":"m"}');
  const response = new TextEncoder().encode('{"ok":true}');
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const body: ReceiptBody = {
    v: 1,
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
  };
  const bytes = encodeReceiptBody(body);
  const sig = new Uint8Array(sign(null, receiptSigningMessage(bytes), privateKey));
  const verdictChecks: Check[] = [
    { name: 'receipt.format', status: 'pass', detail: '' },
    { name: 'receipt.signature', status: 'pass', detail: '' },
    { name: 'agent.enrolled', status: 'pass', detail: 'enrolled' },
    {
      name: 'weights.allowed',
      status: 'fail',
      code: 'WEIGHTS_NOT_ALLOWED',
      detail: 'these weights are sample-1b',
    },
    { name: 'telemetry.consistent', status: 'fail', code: 'TELEMETRY_INCONSISTENT', detail: 'score -25' },
    { name: 'made.up', status: 'pass', detail: 'a check the client does not know' },
    { name: 'host.engine', status: 'fail', code: 'NOT_A_CODE' as never, detail: 'unknown code' },
  ];
  const r = appraiseExchange({
    receiptId: body.id,
    requestId: 'r',
    request,
    response: { bytes: response, end: 'complete' },
    checks: [],
    answer: {
      receipt: toSignedReceipt(bytes, sig),
      body,
      agentKey: toBase64Url(raw),
      verdict: { receiptId: body.id, requestId: 'r', level: 'none', ok: false, checks: verdictChecks },
    },
  });
  const by = new Map(r.checks.map((c) => [c.name, c]));
  assert.equal(by.get('weights.allowed')?.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(by.get('weights.allowed')!.detail, /^per the verifier: /);
  assert.equal(by.get('telemetry.consistent')?.code, 'TELEMETRY_INCONSISTENT');
  assert.equal(by.has('made.up'), false, "an unknown check is not taken on the verifier's word");
  assert.equal(by.get('host.engine')?.status, 'fail');
  assert.equal(by.get('host.engine')?.code, undefined, 'an unknown code is dropped, the failure kept');
  assert.equal(r.ok, false);
  assert.equal(r.level, 'L0', 'the receipt holds; the host checks fail (L1 needs weights.allowed)');
});
