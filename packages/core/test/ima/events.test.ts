import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIMULATED_KERNEL_EVENT as HOST_EXPORT } from '@tmb/core/host';
import {
  AGENT_BUILD_EVENT,
  AGENT_KEY_EVENT,
  HOST_ROLES,
  MANIFEST_EVENT,
  ROLE_EVENT,
  SIMULATED_KERNEL_EVENT,
} from '@tmb/core/ima';

// The names the agent writes in its measurement log and the verifier and client read back
// (docs/registry.md, docs/evidence.md). Changing one breaks every stored log: they are pinned.
test('measurement event names: known answers', () => {
  assert.equal(AGENT_KEY_EVENT, 'tmb.agent-key');
  assert.equal(AGENT_BUILD_EVENT, 'tmb.agent-build');
  assert.equal(ROLE_EVENT, 'tmb.role:');
  assert.equal(MANIFEST_EVENT, 'tmb.manifest:');
  assert.equal(SIMULATED_KERNEL_EVENT, 'tmb.simulated-kernel');
  assert.equal(HOST_EXPORT, SIMULATED_KERNEL_EVENT);
  assert.deepEqual(HOST_ROLES, ['weights', 'engine', 'engine-config']);
});
