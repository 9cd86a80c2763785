import assert from 'node:assert/strict';
import { test } from 'node:test';
import { L0_CHECKS, L1_CHECKS, levelOf, sha256, toHex, utf8 } from '@tmb/core';
import { servedCheck } from '@tmb/core/host';

// weights.served (docs/result.md): the weights a v2 receipt names must be ones the kernel
// measured, up to the quote judging the receipt.

const hex = (label: string) => toHex(sha256(utf8(label)));
const measured = [`sha256:${hex('big weights')}`, `sha256:${hex('other weights')}`];

test('weights.served passes for measured weights, fails by name for others, is skipped without a claim or a kernel log', () => {
  const ok = servedCheck(hex('big weights'), measured, true);
  assert.equal(ok.status, 'pass', ok.detail);
  const bad = servedCheck(hex('small weights'), measured, true);
  assert.equal(bad.status, 'fail');
  assert.equal(bad.code, 'WEIGHTS_SERVED_NOT_MEASURED');
  assert.match(bad.detail, /no read of registered weights/);
  assert.equal(servedCheck(null, measured, true).status, 'skipped');
  assert.equal(servedCheck(hex('small weights'), measured, false).status, 'skipped');
  // Nothing measured at all: the claim is not borne out.
  assert.equal(servedCheck(hex('big weights'), [], true).status, 'fail');
});

test('a failed weights.served caps a verdict at L0; skipped leaves it', () => {
  const pass = (name: string) => ({ name, status: 'pass' as const, detail: '' });
  const all = [...L0_CHECKS, ...L1_CHECKS, 'weights.allowed'].map(pass);
  assert.equal(levelOf([...all, servedCheck(null, measured, true)]), 'L1');
  assert.equal(levelOf([...all, servedCheck(hex('big weights'), measured, true)]), 'L1');
  assert.equal(levelOf([...all, servedCheck(hex('small weights'), measured, true)]), 'L0');
});
