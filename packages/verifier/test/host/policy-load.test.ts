import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { signEnvelope } from '@tmb/core/ima';
import { loadReferences } from '../../src/host/index.ts';

// The verifier reads its runtime policy with core's parseRuntimePolicy: a file that is not a
// policy stops it at start with the same core code and message as `tmb policy check`.

const policy = JSON.stringify({
  meta: { version: 1, generator: 0 },
  release: 0,
  digests: {},
  excludes: [],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
});

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
