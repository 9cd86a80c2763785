// Receipt v2 names the weights that served a request; the telemetry check picks the profile of
// those weights when the registry says they are the requested model's and weights.allowed passed,
// and never the profile of a substitute the receipt names.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Check } from '@tmb/core';
import { compileRegistry, parseRegistry } from '@tmb/core/registry';
import { signProfile } from '@tmb/demo';
import type { Profile, Sample } from '@tmb/stats';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { TelemetryService } from '../../src/telemetry/service.ts';
import { newKey, receiptBody } from '../fixtures.ts';

const T = 1_700_000_000_000;
const key = newKey('gpu-11');
const QUANT = 'ab'.repeat(32); // a registered 8-bit build of model m
const SMALL = 'cd'.repeat(32); // the weights of another model, s

function profile(modelDigest: string, ept: number): Profile {
  return {
    v: 1,
    key: { modelDigest, gpuModel: 'G', gpuCount: 1, engine: 'e', engineVersion: '1', concurrencyBucket: '1' },
    n: 100,
    features: {
      energyPerToken: { mu: Math.log(ept), sigma: 0.1 },
      tokensPerSecond: { mu: Math.log(50), sigma: 0.1 },
      utilization: { alpha: 9, beta: 1 },
    },
    descriptive: { powerLimitW: 700 },
    calibration: { fpr: 0.001, logLikelihoodThreshold: -5, heldOut: 100 },
  };
}

const registry = compileRegistry(
  parseRegistry({
    version: 1,
    models: { m: { weights: [`sha256:${QUANT}`] }, s: { weights: [`sha256:${SMALL}`] } },
  }),
);
const pass = (name: string): Check => ({ name, status: 'pass', detail: '' });
const L0 = ['receipt.format', 'receipt.signature', 'agent.enrolled'].map(pass);

async function service(t: TestContext, withRegistry = true) {
  // Removed after the service closes (test/fixtures/cleanup.ts).
  const dir = await closers(t).dir('tmb-profiles-');
  const signer = generateKeyPairSync('ed25519');
  // Model m by name (its 16-bit build) draws 4 J/token; its registered 8-bit build and the
  // substitute s both draw 2 J/token on the same GPU.
  const files: [string, Profile][] = [
    ['m.json', profile('name:m', 4)],
    ['m-q8.json', profile(`sha256:${QUANT}`, 2)],
    ['s.json', profile(`sha256:${SMALL}`, 2)],
  ];
  for (const [f, p] of files)
    await writeFile(join(dir, f), JSON.stringify(signProfile(p, signer.privateKey)));
  const svc = new TelemetryService(
    ':memory:',
    { profilesDir: dir, profileKey: signer.publicKey.export({ format: 'pem', type: 'spki' }).toString() },
    withRegistry ? registry : null,
  );
  closers(t).add(() => svc.close(), 'telemetry service');
  // 10 J every 100 ms: a 200 ms request of 10 tokens spends 20 J, 2 J/token.
  const gpu: Sample[] = Array.from({ length: 100 }, (_, i) => ({
    t: T + 100 * i,
    energyJ: 10 * i,
    utilGpu: 90,
    name: 'G',
    uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
  }));
  await svc.store.append(
    key.name,
    undefined,
    { chain: 0, nextSeq: 1, head: new Uint8Array(32), restarts: 0 },
    [{ chain: 0, seq: 0, head: new Uint8Array(32), gpu }],
  );
  return svc;
}

let n = 0;
const req = (weights: string | null) => {
  const i = n++;
  return receiptBody(key, {
    usage: { prompt: 1, completion: 10, total: 11 },
    time: { start: (T + 300 * i + 50) * 1000, firstByte: null, end: (T + 300 * i + 250) * 1000 },
    served: { weights, engine: null },
  });
};

test('served weights registered for the model asked for, weights.allowed passing: their own profile is used', async (t) => {
  const svc = await service(t);
  const c = (await svc.check(req(QUANT), [...L0, pass('weights.allowed')]))!;
  assert.equal(c.status, 'pass', c.detail);
  assert.match(
    c.detail,
    new RegExp(`consistent with profile [0-9a-f]{16} \\(sha256:${QUANT}, G, bucket 1\\)`),
  );
  // The same model by name is not a substitute; the other model's profile is.
  assert.match(c.detail, new RegExp(`host SPRT vs sha256:${SMALL}`));
  assert.doesNotMatch(c.detail, /host SPRT vs name:m/);
});

test('without a passing weights.allowed the served digest is not used: the profile is chosen by name', async (t) => {
  const svc = await service(t);
  for (const extra of [[], [{ name: 'weights.allowed', status: 'asserted', detail: '' } as Check]]) {
    const c = (await svc.check(req(QUANT), [...L0, ...extra]))!;
    assert.equal(c.code, 'TELEMETRY_INCONSISTENT', c.detail);
    assert.match(c.detail, /\(name:m, G, bucket 1\)/);
  }
});

test('a receipt naming a substitute as served is held against the requested model, not the substitute', async (t) => {
  const svc = await service(t);
  // Even were weights.allowed to pass, the registry does not list SMALL for m.
  const c = (await svc.check(req(SMALL), [...L0, pass('weights.allowed')]))!;
  assert.equal(c.status, 'fail');
  assert.equal(c.code, 'TELEMETRY_INCONSISTENT');
  assert.match(c.detail, /\(name:m, G, bucket 1\)/);
});

test('without a registry, or without served weights, profiles are chosen by name as before', async (t) => {
  const bare = await service(t, false);
  assert.match(
    (await bare.check(req(QUANT), [...L0, pass('weights.allowed')]))!.detail,
    /\(name:m, G, bucket 1\)/,
  );
  const svc = await service(t);
  assert.match(
    (await svc.check(req(null), [...L0, pass('weights.allowed')]))!.detail,
    /\(name:m, G, bucket 1\)/,
  );
});
