import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CoreError, L0_CHECKS, L1_CHECKS, levelOf } from '../../src/index.ts';
import { compileRegistry, normalizeDigest, parseRegistry } from '../../src/registry/index.ts';
import type { Check } from '../../src/verdict/types.ts';

const hexDigest = fc.stringMatching(/^[0-9a-f]{64}$/);

test('property: any JSON value either parses as a registry or fails REGISTRY_INVALID, never anything else', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.string()), (v) => {
      try {
        parseRegistry(typeof v === 'string' ? v : JSON.stringify(v));
      } catch (err) {
        assert.ok(err instanceof CoreError);
        assert.equal(err.code, 'REGISTRY_INVALID');
      }
    }),
    { numRuns: 500 },
  );
});

test('property: a registry written out and read back is the same, every digest normalised', () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.array(hexDigest, { minLength: 1, maxLength: 3 }),
      ),
      fc.array(hexDigest, { maxLength: 3 }),
      (models, agents) => {
        const reg = {
          version: 1,
          models: Object.fromEntries(
            Object.entries(models).map(([k, w]) => [
              k,
              { weights: w.map((h) => `SHA256:${h.toUpperCase()}`) },
            ]),
          ),
          agents,
        };
        const parsed = parseRegistry(JSON.stringify(reg));
        assert.deepEqual(parseRegistry(JSON.stringify(parsed)), parsed);
        const compiled = compileRegistry(parsed);
        for (const [name, w] of Object.entries(models))
          for (const h of w) assert.ok(compiled.weightOwners.get(`sha256:${h}`)?.includes(name));
      },
    ),
    { numRuns: 200 },
  );
});

test('malformed registries: each fails REGISTRY_INVALID naming the member', () => {
  const cases: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['[]', /registry: not an object/],
    ['{"version": 2, "models": {}}', /version/],
    ['{"version": 1}', /models: not an object/],
    ['{"version": 1, "models": {"m": {}}}', /models\.m\.weights/],
    ['{"version": 1, "models": {"m": {"weights": ["sha256:abc"]}}}', /models\.m\.weights/],
    ['{"version": 1, "models": {"m": {"weights": ["md5:00"]}}}', /models\.m\.weights/],
    ['{"version": 1, "models": {}, "engines": {"e": {"executables": [1]}}}', /engines\.e\.executables/],
    ['{"version": 1, "models": {}, "agents": "sha256:00"}', /agents/],
  ];
  for (const [text, where] of cases)
    assert.throws(
      () => parseRegistry(text),
      (e: unknown) => e instanceof CoreError && e.code === 'REGISTRY_INVALID' && where.test(e.message),
      text,
    );
  assert.equal(normalizeDigest('A'.repeat(40)), `sha1:${'a'.repeat(40)}`);
});

test('L1 needs weights.allowed to pass when a verifier checked it; host checks may be skipped, not fail or asserted', () => {
  const names = [...L0_CHECKS, ...L1_CHECKS];
  const l1: Check[] = names.map((name) => ({ name, status: 'pass', detail: '' }));
  const w = (status: Check['status']): Check => ({ name: 'weights.allowed', status, detail: '' });
  const e = (status: Check['status']): Check => ({ name: 'host.engine', status, detail: '' });
  assert.equal(levelOf(l1), 'L1', 'no registry: no host checks, L1 as before');
  assert.equal(levelOf([...l1, w('pass'), e('skipped')]), 'L1');
  assert.equal(levelOf([...l1, w('fail')]), 'L0');
  assert.equal(levelOf([...l1, w('asserted')]), 'L0');
  assert.equal(levelOf([...l1, w('skipped')]), 'L0');
  assert.equal(levelOf([...l1, w('pass'), e('fail')]), 'L0');
  assert.equal(levelOf([...l1, w('pass'), e('asserted')]), 'L0');
});
