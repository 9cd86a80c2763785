import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { checkSignedReceipt, fromBase64Url, receiptClientNonce, receiptServed } from '@tmb/core';

interface Vectors {
  publicKey: string;
  keyId: string;
  vectors: {
    description: string;
    body: string;
    sig: string;
    bodyText: string;
    expect: string;
    /** Valid v2 vectors: what the body's client nonce and served digests decode to. */
    clientNonce?: string | null;
    served?: { weights: string | null; engine: string | null };
  }[];
}

const file = new URL('../vectors/receipt/vectors.json', import.meta.url);
const v = JSON.parse(await readFile(file, 'utf8')) as Vectors;
const key = fromBase64Url(v.publicKey);

for (const vec of v.vectors) {
  test(`receipt vector: ${vec.description} -> ${vec.expect}`, () => {
    assert.equal(Buffer.from(vec.body, 'base64url').toString('utf8'), vec.bodyText);
    const { checks, body } = checkSignedReceipt({ body: vec.body, sig: vec.sig }, (id) =>
      id === v.keyId ? key : undefined,
    );
    const failed = checks.filter((c) => c.status === 'fail');
    if (vec.expect === 'valid') {
      assert.deepEqual(failed, []);
      assert.equal(body?.key, v.keyId);
      if (vec.clientNonce !== undefined) assert.equal(receiptClientNonce(body!), vec.clientNonce);
      if (vec.served !== undefined) assert.deepEqual(receiptServed(body!), vec.served);
      if (body?.v === 1) assert.equal(receiptServed(body), null);
    } else {
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.code, vec.expect);
    }
  });
}

test('the vectors cover both versions: at least one valid v1 and one valid v2 receipt', () => {
  const versions = v.vectors
    .filter((x) => x.expect === 'valid')
    .map((x) => (JSON.parse(x.bodyText) as { v: number }).v);
  assert.ok(versions.includes(1) && versions.includes(2), `valid versions: ${versions}`);
});

test('docs/receipt.md shows the first valid v2 vector byte for byte', async () => {
  const doc = await readFile(new URL('../../../../docs/receipt.md', import.meta.url), 'utf8');
  const example = /### Example \(version 2\)[\s\S]*?```json\n(.*)\n```/.exec(doc)?.[1];
  const first = v.vectors.find((x) => x.expect === 'valid' && x.bodyText.endsWith('"v":2}'));
  assert.ok(first && example !== undefined);
  assert.equal(example, first.bodyText);
});
