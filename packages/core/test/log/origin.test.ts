import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgentName } from '@tmb/core';
import { isLogAgentName, isValidKeyName, LOG_ORIGIN_PREFIX, logOrigin } from '@tmb/core/log';
import fc from 'fast-check';

test('log origin: known answers', () => {
  assert.equal(LOG_ORIGIN_PREFIX, 'tmb/agent/');
  assert.equal(logOrigin('gpu-1'), 'tmb/agent/gpu-1');
  assert.equal(logOrigin('e2e-telemetry'), 'tmb/agent/e2e-telemetry');
});

test('agents that sign checkpoints: agent names without "+"', () => {
  assert.equal(isLogAgentName('gpu-1'), true);
  assert.equal(isLogAgentName('a+b'), false);
  assert.equal(isAgentName('a+b'), true);
  for (const bad of ['', 'a b', 'x'.repeat(129), null]) assert.equal(isLogAgentName(bad), false);
});

test('property: an agent allowed to sign has an origin that is a valid note key name', () => {
  const printable = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    minLength: 1,
    maxLength: 130,
  });
  fc.assert(
    fc.property(printable, (name) => {
      assert.equal(isLogAgentName(name), isAgentName(name) && !name.includes('+'));
      if (isLogAgentName(name)) assert.equal(isValidKeyName(logOrigin(name)), true);
      if (isAgentName(name) && name.includes('+')) assert.equal(isValidKeyName(logOrigin(name)), false);
    }),
  );
});
