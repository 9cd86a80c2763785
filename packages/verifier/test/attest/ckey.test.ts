import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { toBase64Url } from '@tmb/core';
import { ecdsaNoteKeyId, signNote } from '@tmb/core/log';
import { parseAttest, parseTpm2bPublic, spkiOf, tpmName } from '@tmb/core/tpm';
import { checkpointKeyMember, keyBoundCheck } from '../../src/attest/ckey.ts';
import type { CertifiedKey } from '../../src/attest/state.ts';

// key.bound of a round of evidence from a TPM key certified on swtpm (core's certify vectors:
// scripts/tpm-certify-vectors.ts): the key, its certification and a note text it signed.

const at = (f: string) => new URL(`../../../core/test/vectors/tpm/certify/ecc256/${f}`, import.meta.url);
const inputs = JSON.parse(readFileSync(at('inputs.json'), 'utf8')) as {
  nonce: string;
  agent: string;
  receiptKeyId: string;
  note: string;
};
const keyPublic = new Uint8Array(readFileSync(at('key.pub')));
const attest = new Uint8Array(readFileSync(at('certify.attest')));
const noteSig = new Uint8Array(readFileSync(at('note.sig')));
const origin = `tmb/agent/${inputs.agent}`;
const resetCount = parseAttest(attest).clockInfo.resetCount;
const key: CertifiedKey = {
  keyName: Buffer.from(tpmName(parseTpm2bPublic(keyPublic))).toString('hex'),
  keyPublic: toBase64Url(keyPublic),
  receiptKeyId: inputs.receiptKeyId,
  certifiedAt: 1,
  resetCount,
  akName: '000b00',
  certify: {
    attest: toBase64Url(attest),
    signature: toBase64Url(new Uint8Array(readFileSync(at('certify.sig')))),
    nonce: inputs.nonce,
  },
};
const keyId = ecdsaNoteKeyId(spkiOf(parseTpm2bPublic(keyPublic)));
const note = await signNote(inputs.note, [{ name: origin, keyId, sign: () => noteSig }]);
const check = (o: { keys?: CertifiedKey[]; n?: string; receipt?: string; reset?: number }) =>
  keyBoundCheck(o.keys ?? [key], o.n ?? note, origin, o.receipt ?? inputs.receiptKeyId, o.reset ?? resetCount)
    .check;

test('a checkpoint co-signed by a TPM key certified for its receipt key in this boot passes key.bound', () => {
  const c = check({});
  assert.equal(c.status, 'pass', c.detail);
  assert.deepEqual(checkpointKeyMember(key).certify.receiptKeyId, inputs.receiptKeyId);
});

test('key.bound fails for another receipt key, no certified key, a tampered TPM signature, another boot', () => {
  assert.equal(check({ receipt: '11'.repeat(32) }).code, 'KEY_NOT_BOUND');
  assert.equal(check({ keys: [] }).code, 'KEY_NOT_BOUND');
  const sigLine = note.split('\n').at(-2)!;
  const b = Buffer.from(sigLine.slice(sigLine.lastIndexOf(' ') + 1), 'base64');
  b[b.length - 2] = b[b.length - 2]! ^ 1;
  const tampered = note.replace(
    sigLine,
    `${sigLine.slice(0, sigLine.lastIndexOf(' ') + 1)}${b.toString('base64')}`,
  );
  assert.equal(check({ n: tampered }).code, 'KEY_NOT_BOUND');
  // The note text changed (a forged checkpoint) under the same TPM signature.
  assert.equal(check({ n: note.replace('\n3\n', '\n4\n') }).code, 'KEY_NOT_BOUND');
  assert.equal(check({ reset: resetCount + 1 }).code, 'CERTIFY_RESET_COUNT_MISMATCH');
  assert.equal(keyBoundCheck([key], note, origin, undefined, resetCount).check.status, 'skipped');
});
