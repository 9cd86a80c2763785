import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { verifyReceipt } from '../src/index.ts';

// verifyReceipt: a receipt the verifier holds, checked by its id (what `tmb verify ID` runs).
// The verifier is a fetch stand-in here; packages/cli/test/commands/verify.test.ts runs it
// against a real verifier, signed result included.

const VECTORS = new URL('vectors/bundle/', import.meta.url);
const read = async (name: string) => readFile(new URL(name, VECTORS), 'utf8');

/** A fetch answering from `routes` (path -> [status, JSON body]); records each path asked. */
function verifier(routes: Record<string, [number, unknown]>): { fetch: typeof fetch; asked: string[] } {
  const asked: string[] = [];
  const fake = async (input: string | URL | Request) => {
    const path = new URL(String(input)).pathname;
    asked.push(path);
    const [status, body] = routes[path] ?? [500, { error: { code: 'X', message: 'no route' } }];
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };
  return { fetch: fake as typeof fetch, asked };
}

test('a receipt with a bundle: every check re-run here, the bundle handed back', async () => {
  const bundle = JSON.parse(await read('bundle.json'));
  const body = JSON.parse(Buffer.from(bundle.evidence.receipt.body, 'base64url').toString()) as {
    id: string;
  };
  const v = verifier({ [`/v1/receipts/${body.id}/bundle`]: [200, bundle] });
  const r = await verifyReceipt(body.id, {
    verifierUrl: 'http://verifier.test/',
    verifierKey: JSON.parse(await read('verifier-key.json')),
    ekRoots: [await read('ek-roots.pem')],
    fetch: v.fetch,
  });
  assert.equal(r.source, 'bundle');
  assert.equal(r.level, 'L1');
  assert.equal(r.ok, true);
  assert.deepEqual(r.bundle, bundle);
  assert.deepEqual(v.asked, [`/v1/receipts/${body.id}/bundle`]);
  // Another receipt's bundle answered for the id asked fails receipt.id.
  const other = '6'.repeat(32);
  const w = verifier({ [`/v1/receipts/${other}/bundle`]: [200, bundle] });
  const x = await verifyReceipt(other, {
    verifierUrl: 'http://verifier.test',
    verifierKey: JSON.parse(await read('verifier-key.json')),
    fetch: w.fetch,
  });
  assert.equal(x.ok, false);
  assert.equal(x.checks.find((c) => c.name === 'receipt.id')?.code, 'RECEIPT_ID_MISMATCH');
});

test('no bundle yet: the signed result is asked for; an unknown receipt is asked once', async () => {
  const id = '7'.repeat(32);
  const key = JSON.parse(await read('verifier-key.json'));
  const notReady = verifier({
    [`/v1/receipts/${id}/bundle`]: [404, { error: { code: 'BUNDLE_NOT_READY', message: 'no quote yet' } }],
    [`/v1/receipts/${id}`]: [404, { error: { code: 'RECEIPT_NOT_FOUND', message: 'none' } }],
  });
  const r = await verifyReceipt(id, {
    verifierUrl: 'http://verifier.test',
    verifierKey: key,
    fetch: notReady.fetch,
  });
  assert.deepEqual(notReady.asked, [`/v1/receipts/${id}/bundle`, `/v1/receipts/${id}`]);
  assert.equal(r.source, 'verifier');
  assert.equal(r.level, 'none');
  assert.equal(r.bundle, null);
  assert.deepEqual(
    r.checks.map((c) => [c.name, c.code]),
    [['verifier.answer', 'RECEIPT_NOT_FOUND']],
  );
  const unknown = verifier({
    [`/v1/receipts/${id}/bundle`]: [404, { error: { code: 'RECEIPT_NOT_FOUND', message: 'none' } }],
  });
  const u = await verifyReceipt(id, {
    verifierUrl: 'http://verifier.test',
    verifierKey: key,
    fetch: unknown.fetch,
  });
  assert.deepEqual(unknown.asked, [`/v1/receipts/${id}/bundle`]);
  assert.equal(u.ok, false);
  assert.equal(u.checks[0]?.code, 'RECEIPT_NOT_FOUND');
});
