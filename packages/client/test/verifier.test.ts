import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appraiseExchange, fetchReceipt } from '@tmb/client';
import fc from 'fast-check';

const SOURCE = { url: 'http://verifier.invalid/v1/receipts/00', chosenBy: 'client' as const };
const ID = 'ab'.repeat(16);

test('property: any verifier answer gives a result, never a throw, and never ok from junk', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue().map((j) => JSON.stringify(j)),
        fc.string(),
      ),
      fc.constantFrom(200, 404, 500, 302),
      async (text, status) => {
        const fake = (async () => new Response(text, { status })) as unknown as typeof fetch;
        const { answer, check } = await fetchReceipt(fake, SOURCE, 0, 1000);
        const result = appraiseExchange({
          receiptId: ID,
          requestId: null,
          request: new Uint8Array(0),
          response: { bytes: new Uint8Array(0), end: 'complete' },
          nonce: null,
          checks: [check],
          answer,
        });
        assert.equal(result.ok, false);
        assert.equal(result.level, 'none');
      },
    ),
    { numRuns: 300 },
  );
});

test('a 404 is RECEIPT_NOT_FOUND, a fetch that throws VERIFIER_UNREACHABLE, a slow one VERIFIER_TIMEOUT', async () => {
  const notFound = (async () => new Response('{"error":{}}', { status: 404 })) as unknown as typeof fetch;
  assert.equal((await fetchReceipt(notFound, SOURCE, 0, 1000)).check.code, 'RECEIPT_NOT_FOUND');
  const broken = (async () => {
    throw new TypeError('fetch failed');
  }) as unknown as typeof fetch;
  assert.equal((await fetchReceipt(broken, SOURCE, 0, 1000)).check.code, 'VERIFIER_UNREACHABLE');
  const slow = ((_u: URL, init: RequestInit) =>
    new Promise((_r, reject) =>
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
    )) as unknown as typeof fetch;
  assert.equal((await fetchReceipt(slow, SOURCE, 0, 20)).check.code, 'VERIFIER_TIMEOUT');
});
