import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { checkSignedReceipt, fromBase64Url } from '@tmb/core';

interface Vectors {
  publicKey: string;
  keyId: string;
  vectors: { description: string; body: string; sig: string; bodyText: string; expect: string }[];
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
    } else {
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.code, vec.expect);
    }
  });
}
