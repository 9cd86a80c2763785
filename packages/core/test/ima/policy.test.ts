import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import {
  appraisalCheck,
  appraise,
  buildEntry,
  compileExcludes,
  compilePolicy,
  createPolicy,
  diffPolicies,
  parseRuntimePolicy,
} from '@tmb/core/ima';

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const hex = (n: number, v: number) => Buffer.from(fill(n, v)).toString('hex');

// A policy as Keylime's `keylime-policy create runtime` writes it (keylime/ima/types.py shape).
const keylimePolicy = {
  meta: { version: 1, generator: 3, timestamp: '2025-01-01 00:00:00.000000' },
  release: 0,
  digests: {
    boot_aggregate: [hex(32, 1)],
    '/usr/bin/bash': [hex(32, 2), hex(32, 22)],
    '/usr/lib64/libc.so.6': [hex(20, 3)],
  },
  excludes: ['/tmp/.*', '/var/log/(?P<name>.*)'],
  keyrings: { '.ima': [hex(32, 4)] },
  ima: { ignored_keyrings: ['.evm'], log_hash_alg: 'sha1', dm_policy: null },
  'ima-buf': { 'kexec-cmdline': [hex(32, 5)] },
  'verification-keys': '',
};

const entries = [
  buildEntry({ digest: fill(32, 1), path: 'boot_aggregate' }, 0),
  buildEntry({ digest: fill(32, 22), path: '/usr/bin/bash' }, 1),
  buildEntry({ template: 'ima', digest: fill(20, 3), path: '/usr/lib64/libc.so.6' }, 2),
  buildEntry({ template: 'ima-buf', digest: fill(32, 4), path: '.ima', extra: Uint8Array.of(0x30) }, 3),
  buildEntry({ template: 'ima-buf', digest: fill(32, 5), path: 'kexec-cmdline', extra: Uint8Array.of(1) }, 4),
  buildEntry({ template: 'ima-buf', digest: fill(32, 6), path: '.evm', extra: Uint8Array.of(0x30) }, 5),
  buildEntry({ digest: fill(32, 0), path: '/var/log/messages', violation: true }, 6),
  buildEntry({ template: 'ima-sig', digest: fill(32, 7), path: '/tmp/x' }, 7),
];

test('a Keylime runtime policy is accepted as it is, and a log it allows passes', () => {
  const policy = parseRuntimePolicy(JSON.stringify(keylimePolicy));
  assert.deepEqual(policy.digests['/usr/bin/bash'], [hex(32, 2), hex(32, 22)]);
  const a = appraise(entries, compilePolicy(policy));
  assert.deepEqual(a.failures, []);
  // Keylime's order: the violation on /var/log/messages passes as a violation, before excludes.
  assert.equal(a.excluded, 1);
  assert.equal(a.violations, 1);
  assert.equal(a.passed, 6);
  assert.equal(appraisalCheck(a).status, 'pass');
});

test('each failing entry is listed with its index, offset, code and why', () => {
  const bad = [
    buildEntry({ digest: fill(32, 9), path: '/usr/bin/bash' }, 0),
    buildEntry({ digest: fill(32, 9), path: '/usr/bin/evil' }, 1),
    buildEntry({ template: 'ima-buf', digest: fill(32, 9), path: '.ima', extra: Uint8Array.of(0x30) }, 2),
    buildEntry({ template: 'ima-buf', digest: fill(32, 9), path: 'kexec-cmdline' }, 3),
    buildEntry({ digest: fill(32, 0), path: '/etc/shadow', violation: true }, 4),
    buildEntry({ pcr: 11, digest: fill(32, 1), path: 'boot_aggregate' }, 5),
  ];
  const a = appraise(bad, compilePolicy(parseRuntimePolicy(keylimePolicy)), {
    violations: 'unless-excluded',
  });
  assert.deepEqual(
    a.failures.map((f) => [f.index, f.code, f.path]),
    [
      [0, 'IMA_DIGEST_NOT_ALLOWED', '/usr/bin/bash'],
      [1, 'IMA_FILE_NOT_IN_POLICY', '/usr/bin/evil'],
      [2, 'IMA_KEYRING_NOT_ALLOWED', '.ima'],
      [3, 'IMA_BUF_NOT_ALLOWED', 'kexec-cmdline'],
      [4, 'IMA_VIOLATION', '/etc/shadow'],
      [5, 'IMA_WRONG_PCR', 'boot_aggregate'],
    ],
  );
  assert.equal(a.failures[0]!.digest, `sha256:${hex(32, 9)}`);
  const check = appraisalCheck(a);
  assert.equal(check.status, 'fail');
  assert.equal(check.code, 'IMA_DIGEST_NOT_ALLOWED');
  const lenient = appraise(bad, compilePolicy(parseRuntimePolicy(keylimePolicy)), {
    allowViolations: true,
    pcrIndex: null,
  });
  assert.deepEqual(
    lenient.failures.map((f) => f.index),
    [0, 1, 2, 3],
  );
});

test('invalid policies are refused with IMA_POLICY_INVALID naming the member', () => {
  const broken: [string, unknown][] = [
    ['meta.version', { ...keylimePolicy, meta: { version: 2 } }],
    ['digests', { ...keylimePolicy, digests: { '/x': ['NOTHEX'] } }],
    ['digests', { ...keylimePolicy, digests: { '/x': [] } }],
    ['excludes[0]', { ...keylimePolicy, excludes: ['(unclosed'] }],
    ['ima.log_hash_alg', { ...keylimePolicy, ima: { ...keylimePolicy.ima, log_hash_alg: 'md5' } }],
    ['keyrings', { ...keylimePolicy, keyrings: undefined }],
    ['verification-keys', { ...keylimePolicy, 'verification-keys': 3 }],
    ['not JSON', '{'],
  ];
  for (const [where, p] of broken) {
    assert.throws(
      () => parseRuntimePolicy(typeof p === 'string' ? p : JSON.stringify(p)),
      (err: unknown) =>
        err instanceof CoreError && err.code === 'IMA_POLICY_INVALID' && err.message.includes(where),
      where,
    );
  }
});

test('excludes match at the start of the path like Python re.match, with Python named groups', () => {
  const re = compileExcludes(['/tmp/.*', '(?P<d>/var)/log/.*', 'boot\\Z'])!;
  assert.ok(re.test('/tmp/a'));
  assert.ok(!re.test('/x/tmp/a'));
  assert.ok(re.test('/var/log/syslog'));
  assert.ok(re.test('boot'));
  assert.equal(compileExcludes([]), null);
});

test('createPolicy allows exactly what a log measured, and round-trips through the parser', () => {
  const p = createPolicy(entries, { excludes: ['/tmp/.*'], timestamp: 't' });
  assert.deepEqual(parseRuntimePolicy(JSON.parse(JSON.stringify(p))), p);
  assert.deepEqual(Object.keys(p.digests), ['boot_aggregate', '/usr/bin/bash', '/usr/lib64/libc.so.6']);
  assert.deepEqual({ ...p.keyrings }, { '.ima': [hex(32, 4)], '.evm': [hex(32, 6)] });
  assert.deepEqual({ ...p['ima-buf'] }, { 'kexec-cmdline': [hex(32, 5)] });
  assert.equal(appraise(entries, compilePolicy(p), { allowViolations: true }).failures.length, 0);
});

test('diffPolicies lists what each allows that the other does not', () => {
  const a = parseRuntimePolicy(keylimePolicy);
  assert.deepEqual(diffPolicies(a, a), []);
  const b = parseRuntimePolicy({
    ...keylimePolicy,
    digests: { ...keylimePolicy.digests, '/usr/bin/bash': [hex(32, 2)], '/new': [hex(32, 8)] },
    excludes: ['/tmp/.*'],
    ima: { ...keylimePolicy.ima, log_hash_alg: 'sha256' },
  });
  assert.deepEqual(
    diffPolicies(a, b).map((c) => `${c.sign} ${c.section} ${c.key} ${c.value}`),
    [
      `+ digests /new ${hex(32, 8)}`,
      `- digests /usr/bin/bash ${hex(32, 22)}`,
      '- excludes /var/log/(?P<name>.*) ',
      '- ima log_hash_alg sha1',
      '+ ima log_hash_alg sha256',
    ],
  );
});
