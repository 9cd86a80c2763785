import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { signProfile } from '@tmb/demo';
import type { Profile, Sample } from '@tmb/stats';
import { TelemetryService } from '../../src/telemetry/service.ts';
import { newKey, receiptBody } from '../fixtures.ts';

const T = 1_700_000_000_000;
const key = newKey('gpu-9');

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

test('the host test flags a registered substitute once per receipt, and without profiles there is no check', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-profiles-'));
  const signer = generateKeyPairSync('ed25519');
  // The claimed model draws 4 J/token; a registered substitute on the same hardware, 2 J/token.
  await writeFile(
    join(dir, 'claimed.json'),
    JSON.stringify(signProfile(profile('name:m', 4), signer.privateKey)),
  );
  await writeFile(
    join(dir, 'sub.json'),
    JSON.stringify(signProfile(profile('sha256:small', 2), signer.privateKey)),
  );
  const svc = new TelemetryService(':memory:', {
    profilesDir: dir,
    profileKey: signer.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  });
  const none = new TelemetryService(':memory:');
  try {
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
    const req = (i: number) =>
      receiptBody(key, {
        usage: { prompt: 1, completion: 10, total: 11 },
        time: { start: (T + 300 * i + 50) * 1000, firstByte: null, end: (T + 300 * i + 250) * 1000 },
      });
    const first = req(0);
    const c1 = (await svc.check(first, []))!;
    assert.equal(c1.status, 'skipped', 'an earlier (L0) check did not pass: not appraised');
    const l0 = ['receipt.format', 'receipt.signature', 'agent.enrolled'].map((name) => ({
      name,
      status: 'pass' as const,
      detail: '',
    }));
    const a = (await svc.check(first, l0))!;
    assert.equal(a.status, 'fail');
    assert.equal(a.code, 'TELEMETRY_INCONSISTENT');
    assert.match(a.detail, /host SPRT vs sha256:small: accept-substitute, flagged 1 times/);
    // Reading the same receipt again does not count it twice.
    assert.match((await svc.check(first, l0))!.detail, /flagged 1 times/);
    assert.match((await svc.check(req(1), l0))!.detail, /flagged 2 times/);
    assert.equal(await none.check(first, l0), undefined);
  } finally {
    svc.close();
    none.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a request on another GPU fails telemetry.consistent with TELEMETRY_GPU_MISMATCH and is kept out of the host test', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-profiles-'));
  const signer = generateKeyPairSync('ed25519');
  await writeFile(
    join(dir, 'claimed.json'),
    JSON.stringify(signProfile(profile('name:m', 2), signer.privateKey)),
  );
  await writeFile(
    join(dir, 'sub.json'),
    JSON.stringify(signProfile(profile('sha256:small', 1), signer.privateKey)),
  );
  const svc = new TelemetryService(':memory:', {
    profilesDir: dir,
    profileKey: signer.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  });
  try {
    // 2 J/token, the claimed model's energy, but read from an L4: the profile does not hold there.
    const gpu: Sample[] = Array.from({ length: 20 }, (_, i) => ({
      t: T + 100 * i,
      energyJ: 10 * i,
      utilGpu: 90,
      name: 'NVIDIA L4',
      uuid: 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52',
    }));
    await svc.store.append(
      key.name,
      undefined,
      { chain: 0, nextSeq: 1, head: new Uint8Array(32), restarts: 0 },
      [{ chain: 0, seq: 0, head: new Uint8Array(32), gpu }],
    );
    const l0 = ['receipt.format', 'receipt.signature', 'agent.enrolled'].map((name) => ({
      name,
      status: 'pass' as const,
      detail: '',
    }));
    const body = receiptBody(key, {
      usage: { prompt: 1, completion: 10, total: 11 },
      time: { start: (T + 50) * 1000, firstByte: null, end: (T + 250) * 1000 },
    });
    const c = (await svc.check(body, l0))!;
    assert.equal(c.status, 'fail');
    assert.equal(c.code, 'TELEMETRY_GPU_MISMATCH');
    assert.doesNotMatch(c.detail, /host SPRT/);
  } finally {
    svc.close();
    await rm(dir, { recursive: true, force: true });
  }
});
