import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import {
  KEYLIME_POLICY_PAYLOAD_TYPE,
  keylimeKeyId,
  openEnvelope,
  openRuntimePolicy,
  pae,
  parseRuntimePolicy,
  signEnvelope,
} from '@tmb/core/ima';
import fc from 'fast-check';

// `keylime_policy sign runtime` wraps a runtime policy in a DSSE envelope (ECDSA, SHA-256, DER
// signature over PAE). tmb verifies it against a key the user gives, and refuses a signed
// policy it was given no key for unless told to take it unverified.

const vector = (name: string) =>
  readFileSync(new URL(`../vectors/ima-policy/keylime/${name}`, import.meta.url), 'utf8');

const policy = {
  meta: { version: 1, generator: 0 },
  release: 0,
  digests: { '/usr/bin/bash': ['ab'.repeat(32)] },
  excludes: ['/tmp/.*'],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
};
const payload = new TextEncoder().encode(JSON.stringify(policy));

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof CoreError, `not a CoreError: ${err}`);
    return err.code;
  }
};

test('PAE is DSSE v1: "DSSEv1 <len> <type> <len> <payload>"', () => {
  assert.equal(
    new TextDecoder().decode(pae('application/vnd.keylime+json', new TextEncoder().encode('{}'))),
    'DSSEv1 28 application/vnd.keylime+json 2 {}',
  );
});

test("Keylime's own signed policy verifies with its key, and its tampered copy does not", () => {
  const envelope = JSON.parse(vector('runtime-policy-test-signed.json'));
  const key = vector('runtime-policy-pubkey.pub');
  const opened = openEnvelope(envelope, { key });
  assert.equal(opened.verified, true);
  assert.equal(opened.keyid, '8114198dd64f6b1e07bd392274824d7adca5af8bfdc2fd2cf93a18db8f589e05');
  assert.equal(keylimeKeyId(createPublicKey(key)), opened.keyid);
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(opened.payload)),
    JSON.parse(vector('runtime-policy-test.json')),
  );
  // Its "bad" copy changes the signature's first bytes and drops its padding: Keylime's
  // strict base64 decoding fails on it, and so does tmb's, naming the signature.
  assert.throws(
    () => openRuntimePolicy(vector('runtime-policy-test-signed-bad.json'), { key }),
    (err: unknown) =>
      err instanceof CoreError &&
      err.code === 'IMA_POLICY_ENVELOPE_INVALID' &&
      err.message.includes('signatures[0].sig'),
  );
  // The same change with the padding kept decodes, and does not verify.
  const flipped = {
    ...envelope,
    signatures: [{ ...envelope.signatures[0], sig: `mm${envelope.signatures[0].sig.slice(2)}` }],
  };
  assert.equal(
    codeOf(() => openRuntimePolicy(flipped, { key })),
    'IMA_POLICY_SIGNATURE_INVALID',
  );
  // The payload itself keeps a "sha256:" prefix that Keylime's schema refuses: said after the
  // signature is checked, naming the member and the fix.
  assert.throws(
    () => openRuntimePolicy(vector('runtime-policy-test-signed.json'), { key }),
    (err: unknown) =>
      err instanceof CoreError &&
      err.code === 'IMA_POLICY_INVALID' &&
      /digests\["boot_aggregate"\].*algorithm prefix "sha256:"/.test(err.message),
  );
});

test('a policy signed with a P-256 or P-521 key (node:crypto) is accepted with that key', () => {
  for (const namedCurve of ['P-256', 'P-521']) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
    const text = JSON.stringify(signEnvelope(payload, privateKey));
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const opened = openRuntimePolicy(text, { key: pem });
    assert.deepEqual(opened.policy.excludes, ['/tmp/.*']);
    assert.deepEqual(opened.signature, { verified: true, keyid: keylimeKeyId(publicKey) });
    // The same through parseRuntimePolicy, with the bytes of the file.
    assert.deepEqual(
      { ...parseRuntimePolicy(new TextEncoder().encode(text), { key: publicKey }).digests },
      policy.digests,
    );
  }
});

test('an X.509 certificate (keylime_policy sign runtime --backend x509) verifies with its key', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tmb-dsse-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=dsse_lib',
      ],
      { stdio: 'ignore' },
    );
  } catch {
    t.skip('openssl is not installed');
    return;
  }
  const envelope = signEnvelope(payload, createPrivateKey(readFileSync(join(dir, 'k.pem'), 'utf8')));
  const opened = openRuntimePolicy(envelope, { key: readFileSync(join(dir, 'c.pem'), 'utf8') });
  assert.equal(opened.signature?.verified, true);
});

test('signed policy failures have their own codes', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const envelope = signEnvelope(payload, privateKey);
  const text = JSON.stringify(envelope);
  // No key: refused, saying how to give one or to take it unverified.
  assert.throws(
    () => parseRuntimePolicy(text),
    (err: unknown) =>
      err instanceof CoreError &&
      err.code === 'IMA_POLICY_KEY_REQUIRED' &&
      err.message.includes('--policy-key') &&
      err.message.includes('--unsigned-ok') &&
      err.message.includes(keylimeKeyId(publicKey)),
  );
  const unverified = openRuntimePolicy(text, { unsignedOk: true });
  assert.deepEqual(unverified.signature, { verified: false, keyid: null });
  assert.deepEqual({ ...unverified.policy.digests }, policy.digests);
  assert.equal(
    codeOf(() => parseRuntimePolicy(text, { key: other })),
    'IMA_POLICY_SIGNATURE_INVALID',
  );
  // A payload changed after signing.
  const changed = {
    ...envelope,
    payload: Buffer.from(JSON.stringify({ ...policy, excludes: ['.*'] })).toString('base64'),
  };
  assert.equal(
    codeOf(() => parseRuntimePolicy(changed, { key: publicKey })),
    'IMA_POLICY_SIGNATURE_INVALID',
  );
  // The payload type is signed and must be Keylime's.
  const typed = signEnvelope(payload, privateKey, 'application/json');
  assert.equal(
    codeOf(() => parseRuntimePolicy(typed, { key: publicKey })),
    'IMA_POLICY_ENVELOPE_INVALID',
  );
  for (const bad of [
    { ...envelope, payload: '%%%' },
    { ...envelope, signatures: [] },
    { ...envelope, signatures: [{ keyid: 'x' }] },
    { ...envelope, signatures: [{ sig: '!!' }] },
    { payload: envelope.payload },
  ]) {
    assert.equal(
      codeOf(() => parseRuntimePolicy(bad, { key: publicKey })),
      'IMA_POLICY_ENVELOPE_INVALID',
    );
  }
  // A plain policy with a key: the user expected a signature.
  assert.equal(
    codeOf(() => parseRuntimePolicy(policy, { key: publicKey })),
    'IMA_POLICY_NOT_SIGNED',
  );
  // Keys that cannot verify Keylime's signatures.
  const priv = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  assert.equal(
    codeOf(() => parseRuntimePolicy(text, { key: priv })),
    'IMA_POLICY_KEY_INVALID',
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  });
  assert.equal(
    codeOf(() => parseRuntimePolicy(text, { key: rsa as string })),
    'IMA_POLICY_KEY_INVALID',
  );
  assert.equal(
    codeOf(() => parseRuntimePolicy(text, { key: 'not a key' })),
    'IMA_POLICY_KEY_INVALID',
  );
  // An envelope inside the envelope.
  const nested = signEnvelope(new TextEncoder().encode(text), privateKey);
  assert.equal(
    codeOf(() => parseRuntimePolicy(nested, { key: publicKey })),
    'IMA_POLICY_ENVELOPE_INVALID',
  );
});

test("Keylime's decoding quirk: a hex payload and signature are read as hex", () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = sign('sha256', pae(KEYLIME_POLICY_PAYLOAD_TYPE, payload), {
    key: privateKey,
    dsaEncoding: 'der',
  });
  const envelope = {
    payload: Buffer.from(payload).toString('hex'),
    payloadType: KEYLIME_POLICY_PAYLOAD_TYPE,
    signatures: [{ sig: sig.toString('hex') }],
  };
  assert.deepEqual(parseRuntimePolicy(envelope, { key: publicKey }).excludes, ['/tmp/.*']);
});

test('random envelopes fail only with named codes', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sigs = fc.array(fc.record({ keyid: fc.string(), sig: fc.base64String() }), { maxLength: 3 });
  fc.assert(
    fc.property(fc.base64String(), fc.constantFrom(KEYLIME_POLICY_PAYLOAD_TYPE, 'x'), sigs, (p, t, s) => {
      const c = codeOf(() =>
        parseRuntimePolicy({ payload: p, payloadType: t, signatures: s }, { key: publicKey }),
      );
      assert.ok(c === 'IMA_POLICY_ENVELOPE_INVALID' || c === 'IMA_POLICY_SIGNATURE_INVALID', c);
    }),
    { numRuns: 300 },
  );
});
