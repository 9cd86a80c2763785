import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  appraise,
  appraiseColumns,
  buildEntry,
  columnsOf,
  compilePolicy,
  createPolicy,
  type ImaEntry,
  parseAsciiLog,
  parseRuntimePolicy,
} from '@tmb/core/ima';

// Keylime's per-entry order (keylime/ima/ast.py Entry.invalid, keylime/ima/ima.py): PCR, the
// template hash read with ima.log_hash_alg, violations (passed with the shipped configuration,
// before excludes), then excludes and the policy's lists.

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const hex = (n: number, v: number) => Buffer.from(fill(n, v)).toString('hex');

const policyJson = (over: Record<string, unknown> = {}, alg = 'sha1') => ({
  meta: { version: 1, generator: 0 },
  release: 0,
  digests: { boot_aggregate: [hex(32, 1)], '/usr/bin/bash': [hex(32, 2)] },
  excludes: ['/var/log/.*'],
  keyrings: {},
  ima: { ignored_keyrings: [], log_hash_alg: alg, dm_policy: null },
  'ima-buf': {},
  'verification-keys': '',
  ...over,
});

const classic = [
  buildEntry({ digest: fill(32, 1), path: 'boot_aggregate' }, 0),
  buildEntry({ digest: fill(32, 2), path: '/usr/bin/bash' }, 1),
];

/** The same entries as a per-bank list (`ascii_runtime_measurements_sha256`): SHA-256 template hashes. */
function perBank(entries: ImaEntry[]): ImaEntry[] {
  const lines = entries.map((e) => {
    const th = createHash('sha256').update(e.templateData).digest('hex');
    return `${e.pcr} ${th} ${e.template} ${e.digestAlg}:${e.digest} ${e.path}`;
  });
  return parseAsciiLog(new TextEncoder().encode(`${lines.join('\n')}\n`));
}

const both = (entries: ImaEntry[], policy: ReturnType<typeof compilePolicy>, o = {}) => {
  const a = appraise(entries, policy, o);
  assert.deepEqual(appraiseColumns(columnsOf(entries), policy, o), a, 'appraise and appraiseColumns agree');
  return a;
};

test('ima.log_hash_alg is honoured: a log whose template hashes are of another algorithm fails every entry', () => {
  const sha256Policy = compilePolicy(parseRuntimePolicy(policyJson({}, 'sha256')));
  const sha1Policy = compilePolicy(parseRuntimePolicy(policyJson({}, 'sha1')));
  // The kernel's classic list logs SHA-1 template hashes: a policy that says sha256 refuses it.
  const a = both(classic, sha256Policy);
  assert.deepEqual(
    a.failures.map((f) => [f.index, f.code]),
    [
      [0, 'IMA_LOG_HASH_ALG_MISMATCH'],
      [1, 'IMA_LOG_HASH_ALG_MISMATCH'],
    ],
  );
  assert.match(a.failures[0]!.detail, /log_hash_alg/);
  assert.equal(both(classic, sha1Policy).failures.length, 0);
  // A per-bank sha256 list is what a sha256 policy describes; a sha1 policy refuses it.
  const bank = perBank(classic);
  assert.equal(bank[0]!.templateHashAlg, 'sha256');
  assert.equal(both(bank, sha256Policy).failures.length, 0);
  assert.deepEqual(
    both(bank, sha1Policy).failures.map((f) => f.code),
    ['IMA_LOG_HASH_ALG_MISMATCH', 'IMA_LOG_HASH_ALG_MISMATCH'],
  );
  // Checked after the PCR, as Keylime does; and can be turned off.
  const wrongPcr = [buildEntry({ pcr: 11, digest: fill(32, 2), path: '/usr/bin/bash' }, 0)];
  assert.equal(both(wrongPcr, sha256Policy).failures[0]!.code, 'IMA_WRONG_PCR');
  assert.equal(both(classic, sha256Policy, { checkLogHashAlg: false }).failures.length, 0);
  // A policy made from a per-bank list says so.
  assert.equal(createPolicy(bank).ima.log_hash_alg, 'sha256');
  assert.equal(createPolicy(classic).ima.log_hash_alg, 'sha1');
});

test("violations pass by default, before excludes, as with Keylime's shipped configuration", () => {
  const policy = compilePolicy(parseRuntimePolicy(policyJson()));
  const entries = [
    ...classic,
    buildEntry({ digest: fill(32, 0), path: '/var/log/messages', violation: true }, 2),
    buildEntry({ digest: fill(32, 0), path: '/etc/shadow', violation: true }, 3),
    buildEntry({ digest: fill(32, 9), path: '/var/log/app.log' }, 4),
  ];
  const keylime = both(entries, policy);
  assert.deepEqual(keylime.failures, []);
  assert.deepEqual([keylime.passed, keylime.violations, keylime.excluded], [2, 2, 1]);
  // tmb's stricter rule (the host check's): only where the path is excluded.
  const strict = both(entries, policy, { violations: 'unless-excluded' });
  assert.deepEqual(
    strict.failures.map((f) => [f.index, f.code]),
    [[3, 'IMA_VIOLATION']],
  );
  assert.deepEqual([strict.passed, strict.violations, strict.excluded], [2, 0, 2]);
  // Keylime's ignore_tomtou_errors = True: every violation fails, excluded or not.
  assert.deepEqual(
    both(entries, policy, { violations: 'fail' }).failures.map((f) => f.index),
    [2, 3],
  );
  // The older boolean keeps its meaning.
  assert.deepEqual(
    both(entries, policy, { allowViolations: false }).failures.map((f) => f.index),
    [3],
  );
  // The PCR is checked first, even for a violation.
  const other = [buildEntry({ pcr: 11, digest: fill(32, 0), path: '/x', violation: true }, 0)];
  assert.equal(both(other, policy).failures[0]!.code, 'IMA_WRONG_PCR');
});
