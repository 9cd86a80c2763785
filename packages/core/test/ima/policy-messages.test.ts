import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import { convertAllowlist, MAX_POLICY_DEPTH, parseRuntimePolicy } from '@tmb/core/ima';

// What a user sees when the file given as a runtime policy is something else: each case says
// what is wrong and, where there is one, the fix.

const vector = (name: string) =>
  readFileSync(new URL(`../vectors/ima-policy/keylime/${name}`, import.meta.url), 'utf8');

const policy = {
  meta: { version: 1, generator: 0 },
  release: 0,
  digests: { '/usr/bin/bash': ['ab'.repeat(32)] },
  excludes: [],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
};

function refused(input: unknown, code: string, message: RegExp): void {
  assert.throws(
    () => parseRuntimePolicy(input),
    (err: unknown) => err instanceof CoreError && err.code === code && message.test(err.message),
    `${code} ${message}`,
  );
}

test('a legacy allowlist is named as one, with how to convert it', () => {
  // The flat `digest  path` format (sha256sum's output), as Keylime's test data has it.
  refused(
    vector('ima-allowlist-short.txt'),
    'IMA_POLICY_LEGACY_ALLOWLIST',
    /legacy Keylime allowlist.*tmb policy convert/,
  );
  refused(
    '4860656c6855b6db0c7a2ccc6227a395928986a7  /boot/x.mod\n',
    'IMA_POLICY_LEGACY_ALLOWLIST',
    /digest {2}path/,
  );
  // The JSON allowlist that Keylime's converter reads ("hashes"), and a verifier's stored form.
  const json = { meta: { version: 5, generator: 2 }, release: 0, hashes: { '/x': ['ab'.repeat(20)] } };
  refused(JSON.stringify(json), 'IMA_POLICY_LEGACY_ALLOWLIST', /JSON allowlist \("hashes", meta.version 5\)/);
  refused({ allowlist: json, exclude: [] }, 'IMA_POLICY_LEGACY_ALLOWLIST', /stored allowlist/);
});

test('a converted legacy allowlist is a valid policy; the prefix Keylime keeps is said, then dropped by tmb policy convert', () => {
  // Keylime's converter output keeps "sha256:" on a digest, which its own schema refuses.
  refused(
    vector('runtime-policy-test.json'),
    'IMA_POLICY_INVALID',
    /digests\["boot_aggregate"\].*algorithm prefix "sha256:".*write "4309217e/,
  );
  const converted = convertAllowlist(vector('ima-allowlist-short.txt'), { excludes: ['/tmp/.*'] });
  assert.equal(converted.meta.generator, 3);
  assert.deepEqual(converted.digests.boot_aggregate, [
    '4309217e9709def327c3409407f4d52907aeba46ef1b4f46529fd095f2ef9fb2',
  ]);
  assert.equal(Object.keys(converted.digests).length, 21);
  assert.deepEqual(converted.excludes, ['/tmp/.*']);
  assert.deepEqual(parseRuntimePolicy(JSON.parse(JSON.stringify(converted))), converted);
  // %keyring: lines, and the JSON allowlist with an older `ima` (no dm_policy).
  const k = convertAllowlist(`${'AB'.repeat(32)}  %keyring:.ima\n${'cd'.repeat(20)}  /bin/sh\n`);
  assert.deepEqual({ ...k.keyrings }, { '.ima': ['ab'.repeat(32)] });
  const j = convertAllowlist(
    JSON.stringify({
      meta: { version: 5 },
      hashes: { '/x': ['ab'.repeat(20)] },
      ima: { ignored_keyrings: ['*'], log_hash_alg: 'sha1' },
    }),
  );
  assert.deepEqual(j.ima, { ignored_keyrings: ['*'], log_hash_alg: 'sha1', dm_policy: null });
  assert.throws(() => convertAllowlist(JSON.stringify(policy)), /already a runtime policy/);
  assert.throws(() => convertAllowlist('not-hex  /x\n'), /not a hex digest/);
});

test('deep nesting is refused before parsing, with no stack overflow', () => {
  const deep = `{"meta": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
  refused(deep, 'IMA_POLICY_INVALID', new RegExp(`nested more than ${MAX_POLICY_DEPTH} levels`));
  // Brackets inside strings do not count.
  const p = { ...policy, excludes: ['/tmp/\\[x\\]'], rules: '{'.repeat(1000) };
  assert.deepEqual(parseRuntimePolicy(JSON.stringify(p)).excludes, ['/tmp/\\[x\\]']);
});

test('a byte-order mark is skipped (Python json.loads reads UTF-8 bytes as utf-8-sig); UTF-16 and non-UTF-8 are named', () => {
  const text = JSON.stringify(policy);
  assert.deepEqual(parseRuntimePolicy(`\ufeff${text}`).excludes, []);
  assert.deepEqual(
    parseRuntimePolicy(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)])).excludes,
    [],
  );
  const utf16 = new Uint8Array([0xff, 0xfe, ...[...text].flatMap((c) => [c.charCodeAt(0), 0])]);
  refused(utf16, 'IMA_POLICY_INVALID', /UTF-16.*save it as UTF-8/);
  refused(new Uint8Array([0x7b, 0xff, 0x7d]), 'IMA_POLICY_INVALID', /not UTF-8/);
  refused(text.replace('{', '{\u0000'), 'IMA_POLICY_INVALID', /NUL/);
});

test('a top level that is not an object, an empty file and bad members are named', () => {
  refused('[]', 'IMA_POLICY_INVALID', /top level is an array; expected an object/);
  refused('null', 'IMA_POLICY_INVALID', /top level is null/);
  refused('"policy"', 'IMA_POLICY_INVALID', /top level is a string/);
  refused('3', 'IMA_POLICY_INVALID', /top level is a number/);
  refused('', 'IMA_POLICY_INVALID', /empty/);
  refused('  \n', 'IMA_POLICY_INVALID', /empty/);
  refused('{"meta": ', 'IMA_POLICY_INVALID', /not JSON/);
  refused({ ...policy, digests: { '/x': ['AB'.repeat(20)] } }, 'IMA_POLICY_INVALID', /upper-case hex/);
  refused(
    { ...policy, ima: { ...policy.ima, dm_policy: { rules: [] } } },
    'IMA_POLICY_INVALID',
    /ima.dm_policy: not null: tmb does not evaluate device-mapper policies/,
  );
  refused(
    { ...policy, ima: { ...policy.ima, log_hash_alg: 'md5' } },
    'IMA_POLICY_INVALID',
    /sha1, sha256, sha384 or sha512/,
  );
});
