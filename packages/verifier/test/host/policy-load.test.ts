import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createPolicy, signEnvelope } from '@tmb/core/ima';
import { loadReferences } from '../../src/host/index.ts';

// The verifier reads its runtime policy with core's parseRuntimePolicy: a file that is not a
// policy stops it at start with the same core code and message as `tmb policy check`.

const policy = JSON.stringify(createPolicy([])); // an empty Keylime runtime policy

test('the verifier refuses what is not a runtime policy with the core code in its message', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cases: [string, RegExp][] = [
    ['4860656c6855b6db0c7a2ccc6227a395928986a7  /boot/x.mod\n', /IMA_POLICY_LEGACY_ALLOWLIST: .*convert/],
    [`{"a": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`, /IMA_POLICY_INVALID: .*nested more than/],
    ['[]', /IMA_POLICY_INVALID: .*top level is an array/],
    [
      JSON.stringify({ ...JSON.parse(policy), excludes: ['(?i)/tmp'] }),
      /IMA_POLICY_REGEX_UNSUPPORTED: .*global flag/,
    ],
    [JSON.stringify(signEnvelope(new TextEncoder().encode(policy), privateKey)), /IMA_POLICY_KEY_REQUIRED/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => loadReferences({ imaPolicy: text }),
      (e: Error & { code?: string }) => e.code === 'VERIFIER_CONFIG_INVALID' && message.test(e.message),
      String(message),
    );
  }
  // A byte-order mark is no error, as in Keylime.
  assert.notEqual(loadReferences({ imaPolicy: `\ufeff${policy}` }).policy, null);
});

test('a signed policy loads with its key; a wrong key, the tampered Keylime envelope or no signature is refused', () => {
  const keylime = (name: string) =>
    readFileSync(new URL(`../../../core/test/vectors/ima-policy/keylime/${name}`, import.meta.url), 'utf8');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const pem = (k: typeof publicKey) => k.export({ type: 'spki', format: 'pem' }).toString();
  const signed = JSON.stringify(signEnvelope(new TextEncoder().encode(policy), privateKey));
  assert.ok(loadReferences({ imaPolicy: signed, imaPolicyKey: pem(publicKey) }).policy !== null);

  const refused = (o: Parameters<typeof loadReferences>[0], message: RegExp) =>
    assert.throws(
      () => loadReferences(o),
      (e: Error & { code?: string }) => e.code === 'VERIFIER_CONFIG_INVALID' && message.test(e.message),
      String(message),
    );
  refused({ imaPolicy: signed, imaPolicyKey: pem(other) }, /^IMA_POLICY_SIGNATURE_INVALID: /);
  refused({ imaPolicy: policy, imaPolicyKey: pem(publicKey) }, /^IMA_POLICY_NOT_SIGNED: /);
  refused(
    {
      imaPolicy: keylime('runtime-policy-test-signed-bad.json'),
      imaPolicyKey: keylime('runtime-policy-pubkey.pub'),
    },
    /^IMA_POLICY_ENVELOPE_INVALID: /,
  );
});
