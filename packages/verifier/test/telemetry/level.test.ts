import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Check, L0_CHECKS, L1_CHECKS, levelOf } from '@tmb/core';

const pass = (name: string): Check => ({ name, status: 'pass', detail: '' });

test('L2 is L1 and telemetry.consistent and telemetry.tool pass; telemetry alone never lifts a level', () => {
  const l1 = [...L0_CHECKS, ...L1_CHECKS].map(pass);
  assert.equal(levelOf([...l1, pass('telemetry.consistent'), pass('telemetry.tool')]), 'L2');
  // A telemetry tool the kernel did not measure as an allowed one keeps L2 out of reach.
  assert.equal(levelOf([...l1, pass('telemetry.consistent')]), 'L1');
  assert.equal(
    levelOf([
      ...l1,
      pass('telemetry.consistent'),
      { name: 'telemetry.tool', status: 'fail', code: 'TELEMETRY_TOOL_NOT_ALLOWED', detail: '' },
    ]),
    'L1',
  );
  // Without host.integrity the key binding does not count: L0.
  assert.equal(levelOf(l1.filter((c) => c.name !== 'host.integrity')), 'L0');
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
