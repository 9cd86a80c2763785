import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fromHex } from '@tmb/core';
import { ObjectAttr, parseTpm2bPublic } from '@tmb/core/tpm';
import { DEFAULT_AK_HANDLE, handleText, handleVerdict, readHeldAk, signedBy } from '../../src/tpm/ak.ts';

// The persistent-handle decisions, on the committed swtpm vectors (packages/core/test/vectors/tpm).
const dir = new URL('../../../core/test/vectors/tpm/', import.meta.url).pathname;
const read = (f: string) => new Uint8Array(readFileSync(dir + f));

test('the default AK handle is in the owner range, outside the SRK and EK blocks', () => {
  assert.equal(handleText(DEFAULT_AK_HANDLE), '0x81000a4b');
  assert.ok(DEFAULT_AK_HANDLE >= 0x81000100 && DEFAULT_AK_HANDLE < 0x81010000);
});

test('handleVerdict: reuse this AK, replace an empty handle or another AK, refuse any other key', async () => {
  const ecc = await readHeldAk(`${dir}ecc256/ak.pub`);
  const rsa = parseTpm2bPublic(read('rsassa/ak.pub'));
  assert.equal(handleVerdict(ecc.parsed, ecc), 'reuse');
  assert.equal(handleVerdict(parseTpm2bPublic(read('ecc256/ak.pub')), ecc), 'reuse');
  assert.equal(handleVerdict(null, ecc), 'replace');
  assert.equal(handleVerdict(rsa, ecc), 'replace');
  const storage = { ...rsa, attributes: (rsa.attributes & ~ObjectAttr.sign) | ObjectAttr.decrypt };
  assert.equal(handleVerdict(storage, ecc), 'refuse');
  const unrestricted = { ...rsa, attributes: rsa.attributes & ~ObjectAttr.restricted };
  assert.equal(handleVerdict(unrestricted, ecc), 'refuse');
  // The EK itself (a restricted decryption key) is never taken for an AK.
  assert.equal(handleVerdict(parseTpm2bPublic(read('ek-rsa.pub')), ecc), 'refuse');
});

test('signedBy: a quote verifies under its own AK only, and only over its qualifying data', async () => {
  for (const kind of ['ecc256', 'rsassa', 'rsapss'] as const) {
    const ak = await readHeldAk(`${dir}${kind}/ak.pub`);
    const q = { attest: read(`${kind}/quote1.msg`), signature: read(`${kind}/quote1.sig`) };
    const nonce = fromHex(readFileSync(`${dir}${kind}/quote1.nonce`, 'utf8').trim());
    assert.equal(signedBy(q, ak, nonce), true, kind);
    assert.equal(
      signedBy(
        q,
        ak,
        nonce.map((b) => b ^ 1),
      ),
      false,
      `${kind}: other nonce`,
    );
    const other = await readHeldAk(`${dir}${kind === 'ecc256' ? 'rsassa' : 'ecc256'}/ak.pub`);
    assert.equal(signedBy(q, other, nonce), false, `${kind}: other AK`);
  }
  const pss = await readHeldAk(`${dir}rsapss/ak.pub`);
  assert.deepEqual(pss.quoteArgs, ['-g', 'sha256', '--scheme', 'rsapss']);
});
