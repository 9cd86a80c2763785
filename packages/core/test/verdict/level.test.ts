import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Check,
  checkGroup,
  L0_CHECKS,
  L0_CLIENT_CHECKS,
  L1_CHECKS,
  L1_HOST_CHECKS,
  L2_CHECKS,
  levelOf,
  minLevel,
} from '@tmb/core';
import fc from 'fast-check';

const pass = (name: string): Check => ({ name, status: 'pass', detail: '' });
const fail = (name: string): Check => ({ name, status: 'fail', detail: '' });
const L0 = L0_CHECKS.map(pass);
const L1 = [...L0, ...L1_CHECKS.map(pass)];
const L2 = [...L1, ...L2_CHECKS.map(pass)];
const CLIENT = L0_CLIENT_CHECKS.map(pass);

test('levels as before when nothing fails', () => {
  assert.equal(levelOf([]), 'none');
  assert.equal(levelOf(L0), 'L0');
  assert.equal(levelOf(L1), 'L1');
  assert.equal(levelOf(L2), 'L2');
});

test('a failed L1 check never yields L1, even with every required L1 check passing', () => {
  for (const name of [...L1_CHECKS, ...L1_HOST_CHECKS, 'ima.policy']) {
    const others = L2.filter((c) => c.name !== name);
    assert.equal(levelOf([...others, fail(name)]), 'L0', name);
  }
  // A second, failing copy of a passing check: the failure still counts.
  assert.equal(levelOf([...L2, fail('quote.signature')]), 'L0');
});

test('a failed L2 check caps at L1', () => {
  for (const name of L2_CHECKS) assert.equal(levelOf([...L2, fail(name)]), 'L1', name);
  assert.equal(levelOf([...L0, fail('telemetry.consistent')]), 'L0', 'the cap never raises a level');
});

test('a failed check of unknown name caps at none; asserted or skipped unknown checks do not', () => {
  assert.equal(levelOf([...L2, fail('made.up')]), 'none');
  assert.equal(levelOf([...L2, { name: 'made.up', status: 'asserted', detail: '' }]), 'L2');
  assert.equal(levelOf([...L2, { name: 'made.up', status: 'skipped', detail: '' }]), 'L2');
  assert.equal(checkGroup('made.up'), null);
});

test('a failed L0-group check (receipt, client.*, verifier.*) caps at none', () => {
  for (const name of [...L0_CHECKS, ...L0_CLIENT_CHECKS, 'client.response_complete', 'verifier.result'])
    assert.equal(levelOf([...L2, ...CLIENT, fail(name)]), 'none', name);
});

// Issue 9: "An answer changed by one byte after the agent gives ok: false but still L1 or L2".
test('client: L0 also needs receipt.id, both hashes and the nonce to pass', () => {
  assert.equal(levelOf(L2, { client: true }), 'none', 'a client result without its own checks');
  assert.equal(levelOf([...L2, ...CLIENT], { client: true }), 'L2');
  assert.equal(levelOf(L2), 'L2', "the verifier's verdict has no client checks");
  for (const name of L0_CLIENT_CHECKS) {
    const others = CLIENT.filter((c) => c.name !== name);
    assert.equal(levelOf([...L2, ...others], { client: true }), 'none', `${name} absent`);
    assert.equal(
      levelOf([...L2, ...others, { name, status: 'skipped', detail: '' }], { client: true }),
      'none',
      `${name} skipped`,
    );
  }
});

test('property: a failed check never leaves a level at or above its group', () => {
  const names = [...L0_CHECKS, ...L0_CLIENT_CHECKS, ...L1_CHECKS, ...L1_HOST_CHECKS, ...L2_CHECKS, 'x.y'];
  const rank = { none: 0, L0: 1, L1: 2, L2: 3, L3: 4 } as const;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          name: fc.constantFrom(...names),
          status: fc.constantFrom('pass', 'fail', 'asserted', 'skipped') as fc.Arbitrary<Check['status']>,
        }),
        { maxLength: 40 },
      ),
      fc.boolean(),
      (raw, client) => {
        const checks = raw.map((c) => ({ ...c, detail: '' }));
        const level = levelOf(checks, { client });
        for (const c of checks) {
          if (c.status !== 'fail') continue;
          const g = checkGroup(c.name);
          const cap = g === 'L2' ? 'L1' : g === 'L1' ? 'L0' : 'none';
          assert.ok(rank[level] <= rank[cap], `${c.name} failed, level ${level}`);
        }
        assert.equal(minLevel(level, 'L2'), level === 'L3' ? 'L2' : level);
      },
    ),
    { numRuns: 500 },
  );
});
