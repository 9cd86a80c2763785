import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Check, L0_CHECKS, L1_CHECKS, levelOf } from '@tmb/core';

const pass = (name: string): Check => ({ name, status: 'pass', detail: '' });

test('L2 is L1 and telemetry.consistent pass; telemetry alone never lifts a level', () => {
  const l1 = [...L0_CHECKS, ...L1_CHECKS].map(pass);
  assert.equal(levelOf([...l1, pass('telemetry.consistent')]), 'L2');
  assert.equal(levelOf(l1), 'L1');
  assert.equal(levelOf([...l1, { name: 'telemetry.consistent', status: 'skipped', detail: '' }]), 'L1');
  assert.equal(
    levelOf([
      ...l1,
      { name: 'telemetry.consistent', status: 'fail', code: 'TELEMETRY_INCONSISTENT', detail: '' },
    ]),
    'L1',
  );
  assert.equal(levelOf([...L0_CHECKS.map(pass), pass('telemetry.consistent')]), 'L0');
});
