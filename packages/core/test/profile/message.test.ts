import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concat, sha256, toHex, utf8 } from '@tmb/core';
import { PROFILE_SIGNING_DOMAIN, profileSigningMessage } from '@tmb/core/profile';

// Known answer computed with the verifier's and the demo's own code before issue 11 moved the
// message here (verifier telemetry/profiles.ts, demo gpu/calibrate.ts at c72eedf).
const PROFILE = {
  v: 1,
  key: { model: 'm', gpu: 'H200' },
  features: { e: { mu: -1.25e-7, sigma: 0.5 } },
  threshold: 12.000000000000002,
  note: undefined,
};
const BODY =
  '{"features":{"e":{"mu":-1.25e-7,"sigma":0.5}},"key":{"gpu":"H200","model":"m"},"threshold":12.000000000000002,"v":1}';
const MESSAGE_SHA256 = 'c0e1d163190021e6cb8b5bb813ab946574080980f1c82419d11ffe7129c84409';

test('profile signing message: known answer', () => {
  assert.deepEqual(PROFILE_SIGNING_DOMAIN, utf8('tmb-profile-v1\0'));
  const msg = profileSigningMessage(PROFILE);
  assert.deepEqual(msg, concat(utf8('tmb-profile-v1\0'), utf8(BODY)));
  assert.equal(toHex(sha256(msg)), MESSAGE_SHA256);
});

test('profile signing message: member order and whitespace of the file do not matter', () => {
  const reordered = JSON.parse(`{ "v": 1, "threshold": 12.000000000000002,
    "features": {"e": {"sigma": 0.5, "mu": -1.25e-7}}, "key": {"gpu": "H200", "model": "m"} }`);
  assert.equal(toHex(sha256(profileSigningMessage(reordered))), MESSAGE_SHA256);
  assert.notEqual(toHex(sha256(profileSigningMessage({ ...PROFILE, threshold: 12 }))), MESSAGE_SHA256);
});

test('profile signing message refuses a profile JSON cannot carry', () => {
  assert.throws(() => profileSigningMessage({ threshold: Number.POSITIVE_INFINITY }), {
    name: 'CoreError',
    code: 'BAD_ENCODING',
  });
});
