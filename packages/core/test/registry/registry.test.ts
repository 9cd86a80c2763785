import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import {
  appraiseHost,
  buildEntry,
  compileRegistry,
  measuredDigests,
  normalizeDigest,
  parseRegistry,
  weightsVerdict,
} from '@tmb/core/ima';

const d = (v: number) => `sha256:${Buffer.from(new Uint8Array(32).fill(v)).toString('hex')}`;
const registry = compileRegistry(
  parseRegistry({
    version: 1,
    models: {
      'llama-3.1-8b-instruct': { weights: [d(1), d(2)] },
      'llama-3.1-8b-instruct-q4': { weights: [d(3).toUpperCase().replace('SHA256', 'sha256')] },
    },
    engines: { 'llama.cpp': { executables: [d(5)] }, vllm: { executables: [d(6)] } },
    agents: [Buffer.from(new Uint8Array(32).fill(7)).toString('hex')],
  }),
);
const measured = measuredDigests([
  buildEntry({ digest: new Uint8Array(32).fill(1), path: '/opt/models/llama.gguf' }),
  buildEntry({ digest: new Uint8Array(32).fill(3), path: '/opt/models/llama-q4.gguf' }),
  buildEntry({ digest: new Uint8Array(32).fill(9), path: '/opt/models/other.gguf' }),
  buildEntry({ digest: new Uint8Array(32).fill(5), path: '/usr/bin/llama-server' }),
  buildEntry({ digest: new Uint8Array(32).fill(7), path: 'tmb.manifest:/opt/tmb' }),
  buildEntry({ digest: new Uint8Array(32).fill(2), path: '/tmp/x', violation: true }),
]);

test('weights measured and allowed for the model asked for', () => {
  const { verdict, check } = weightsVerdict('llama-3.1-8b-instruct', d(1), measured, registry);
  assert.equal(verdict.status, 'allowed');
  assert.equal(check.status, 'pass');
});

test('measured weights of another model are not allowed, and the verdict says whose they are', () => {
  const { verdict, check } = weightsVerdict('llama-3.1-8b-instruct', d(3), measured, registry);
  assert.equal(verdict.status, 'not-allowed');
  assert.deepEqual(verdict.belongsTo, ['llama-3.1-8b-instruct-q4']);
  assert.equal(check.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(check.detail, /weights of llama-3\.1-8b-instruct-q4/);
  const none = weightsVerdict('llama-3.1-8b-instruct', d(9), measured, registry);
  assert.equal(none.verdict.status, 'not-allowed');
  assert.match(none.check.detail, /no registered model/);
});

test('weights no quoted measurement shows are only asserted (a violation entry measures nothing)', () => {
  assert.equal(weightsVerdict('llama-3.1-8b-instruct', d(2), measured, registry).check.status, 'asserted');
  assert.equal(weightsVerdict('llama-3.1-8b-instruct', null, measured, registry).verdict.status, 'asserted');
  assert.equal(weightsVerdict('llama-3.1-8b-instruct', 'garbage', measured, registry).verdict.digest, null);
});

test('an unknown model name fails MODEL_UNKNOWN', () => {
  const { verdict, check } = weightsVerdict('gpt-5', d(1), measured, registry);
  assert.equal(verdict.status, 'unknown-model');
  assert.equal(check.code, 'MODEL_UNKNOWN');
  assert.equal(weightsVerdict('__proto__', d(1), measured, registry).check.code, 'MODEL_UNKNOWN');
});

test('host checks: allowed agent build and engine executable measured, or not', () => {
  assert.deepEqual(
    appraiseHost(measured, registry).map((c) => c.status),
    ['pass', 'pass'],
  );
  assert.equal(appraiseHost(measured, registry, 'vllm')[1]!.code, 'ENGINE_NOT_ALLOWED');
  assert.deepEqual(
    appraiseHost(new Set(), registry).map((c) => c.code),
    ['AGENT_BUILD_NOT_ALLOWED', 'ENGINE_NOT_ALLOWED'],
  );
});

test('registry digests are normalised; malformed registries fail REGISTRY_INVALID', () => {
  assert.equal(normalizeDigest('AB'.repeat(20)), `sha1:${'ab'.repeat(20)}`);
  for (const bad of [
    { version: 2, models: {} },
    { version: 1, models: { m: { weights: ['xyz'] } } },
    { version: 1 },
    '[',
  ]) {
    assert.throws(
      () => parseRegistry(typeof bad === 'string' ? bad : JSON.stringify(bad)),
      (e: unknown) => e instanceof CoreError && e.code === 'REGISTRY_INVALID',
    );
  }
});
