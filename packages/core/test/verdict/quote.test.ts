import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Check, QUOTE_CHECK_SOURCES, quoteCheck } from '@tmb/core';

test('quoteCheck names the first failed core check under the verdict name, else passes', () => {
  const all: Check[] = [
    { name: 'tpm.ak.public', status: 'pass' },
    { name: 'tpm.quote.magic', status: 'fail', code: 'QUOTE_MAGIC', detail: 'bad magic' },
    { name: 'tpm.quote.signature', status: 'fail', code: 'QUOTE_SIGNATURE_INVALID', detail: 'bad sig' },
    { name: 'tpm.quote.nonce', status: 'pass' },
  ] as Check[];
  assert.deepEqual(quoteCheck(all, 'quote.signature', 'ok'), {
    name: 'quote.signature',
    status: 'fail',
    code: 'QUOTE_MAGIC',
    detail: 'bad magic',
  });
  assert.deepEqual(quoteCheck(all, 'quote.nonce', 'fresh'), {
    name: 'quote.nonce',
    status: 'pass',
    detail: 'fresh',
  });
  // A core check that was not made does not fail the verdict's check.
  assert.deepEqual(quoteCheck([], 'quote.clock', 'c'), { name: 'quote.clock', status: 'pass', detail: 'c' });
  assert.deepEqual(Object.keys(QUOTE_CHECK_SOURCES), [
    'quote.signature',
    'quote.nonce',
    'quote.clock',
    'quote.pcr_digest',
  ]);
});
