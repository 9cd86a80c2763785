import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ed25519Raw } from '@tmb/core';
import { signProfile } from '@tmb/demo';
import type { Profile, Sample } from '@tmb/stats';
import { linkReceipt } from '../../src/telemetry/link.ts';
import { type LoadedProfile, ProfileRegistry, verifyProfileText } from '../../src/telemetry/profiles.ts';
import { SqliteTelemetryStore } from '../../src/telemetry/store.ts';
import { newKey, receiptBody } from '../fixtures.ts';

const T = 1_700_000_000_000; // ms
const key = newKey('gpu-7');

const GPU = { name: 'G', uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660' };

/**
 * Four samples 100 ms apart: energy 1000, 1010, 1030, 1040 J; power 100, 200, 200, 100 W; each
 * naming GPU "G" (the profile's gpuModel) and one UUID, unless `edit` changes them.
 */
async function storeWithSamples(
  edit: (s: Sample, i: number) => Sample = (s) => s,
  extra: Sample[] = [],
): Promise<SqliteTelemetryStore> {
  const store = new SqliteTelemetryStore(':memory:', 1000);
  const gpu: Sample[] = [
    { t: T, powerW: 100, energyJ: 1000, utilGpu: 0, ...GPU },
    { t: T + 100, powerW: 200, energyJ: 1010, utilGpu: 80, ...GPU },
    { t: T + 200, powerW: 200, energyJ: 1030, utilGpu: 100, ...GPU },
    { t: T + 300, powerW: 100, energyJ: 1040, utilGpu: 0, ...GPU },
  ].map(edit);
  gpu.push(...extra);
  await store.append(key.name, undefined, { chain: 0, nextSeq: 1, head: new Uint8Array(32), restarts: 0 }, [
    { chain: 0, seq: 0, head: new Uint8Array(32), gpu },
  ]);
  return store;
}

function profile(ept: number, calibrated = true): LoadedProfile {
  const p: Profile = {
    v: 1,
    key: {
      modelDigest: 'name:m',
      gpuModel: 'G',
      gpuCount: 1,
      engine: 'e',
      engineVersion: '1',
      concurrencyBucket: '1',
    },
    n: 100,
    features: {
      energyPerToken: { mu: Math.log(ept), sigma: 0.1 },
      tokensPerSecond: { mu: Math.log(50), sigma: 0.1 },
      utilization: { alpha: 9, beta: 1 },
    },
    descriptive: { powerLimitW: 700 },
    ...(calibrated ? { calibration: { fpr: 0.001, logLikelihoodThreshold: -5, heldOut: 100 } } : {}),
  };
  return { id: `p${ept}`, profile: p, file: 'x.json' };
}

/** A request from T+50 to T+250 ms (receipt times in µs), 10 tokens, not streamed. */
const body = (over: Parameters<typeof receiptBody>[1] = {}) =>
  receiptBody(key, {
    usage: { prompt: 5, completion: 10, total: 15 },
    time: { start: (T + 50) * 1000, firstByte: (T + 249) * 1000, end: (T + 250) * 1000 },
    ...over,
  });

test('window features match the hand-computed values, and a consistent request passes', async () => {
  const f = await linkReceipt(body(), await storeWithSamples(), [profile(3)]);
  // Energy: half of [T, T+100] (10 J), all of [T+100, T+200] (20 J), half of [T+200, T+300] (10 J).
  assert.equal(f.features?.energyJ, 5 + 20 + 5);
  assert.equal(f.features?.energySource, 'counter');
  assert.equal(f.features?.energyPerToken, 3);
  assert.equal(f.features?.tokensPerSecond, 10 / 0.2); // not streamed: tokens over the whole request
  assert.equal(f.features?.utilization, 0.9); // samples at T+100 and T+200
  assert.equal(f.features?.meanPowerW, 200);
  assert.equal(f.features?.sampleCount, 2);
  assert.equal(f.check.status, 'pass');
  assert.match(f.check.detail, /consistent with profile p3 .*3\.000 J\/token, 50 tokens\/s/);
  assert.equal(f.concurrency, 1);
});

test('a request off the profile fails with TELEMETRY_INCONSISTENT, naming score and profile', async () => {
  const f = await linkReceipt(body(), await storeWithSamples(), [profile(6)]);
  assert.equal(f.check.status, 'fail');
  assert.equal(f.check.code, 'TELEMETRY_INCONSISTENT');
  assert.match(
    f.check.detail,
    /inconsistent with profile p6 .*log-likelihood -?\d+\.\d+ vs threshold -5\.00/,
  );
});

test('a sample naming another GPU than the profile fails with TELEMETRY_GPU_MISMATCH, whatever the score', async () => {
  // The sample just before the window is part of it (the request's energy is read from it).
  for (const at of [0, 1, 3]) {
    const store = await storeWithSamples((s, i) => (i === at ? { ...s, name: 'NVIDIA L4' } : s));
    const f = await linkReceipt(body(), store, [profile(3)]);
    assert.equal(f.check.status, 'fail', `sample ${at}`);
    assert.equal(f.check.code, 'TELEMETRY_GPU_MISMATCH');
    assert.match(f.check.detail, /names GPU "NVIDIA L4", profile p3 .* is for "G"/);
    assert.equal(f.gpu?.status, 'mismatch');
  }
  // A near name is another GPU: no prefix or substring match.
  const f = await linkReceipt(body(), await storeWithSamples((s) => ({ ...s, name: 'G 80GB' })), [
    profile(3),
  ]);
  assert.equal(f.check.code, 'TELEMETRY_GPU_MISMATCH');
});

test('the GPU name matches the profile case-insensitively', async () => {
  const f = await linkReceipt(body(), await storeWithSamples((s) => ({ ...s, name: 'g' })), [profile(3)]);
  assert.equal(f.check.status, 'pass', f.check.detail);
  assert.match(f.check.detail, /on GPU "g" \(GPU-34319582-d595-d1c7-d1d2-179bcfa61660\)/);
  assert.deepEqual(f.gpu, { status: 'match', name: 'g', uuid: GPU.uuid, named: 4, samples: 4 });
});

test('a GPU swapped within the window fails with TELEMETRY_GPU_CHANGED', async () => {
  const other = 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52';
  const store = await storeWithSamples((s, i) => (i >= 2 ? { ...s, uuid: other } : s));
  const f = await linkReceipt(body(), store, [profile(3)]);
  assert.equal(f.check.status, 'fail');
  assert.equal(f.check.code, 'TELEMETRY_GPU_CHANGED');
  assert.match(f.check.detail, new RegExp(`UUID "${GPU.uuid}", then "${other}"`));
  // A sample without a UUID between them does not hide the change.
  const gap = await storeWithSamples((s, i) =>
    i === 1 ? { ...s, uuid: undefined } : i >= 2 ? { ...s, uuid: other } : s,
  );
  assert.equal((await linkReceipt(body(), gap, [profile(3)])).check.code, 'TELEMETRY_GPU_CHANGED');
  // Another UUID outside the request's window (after the first sample past its end) is not this request's.
  const later = await storeWithSamples(undefined, [
    { t: T + 400, powerW: 100, energyJ: 1050, utilGpu: 0, name: 'G', uuid: other },
  ]);
  assert.equal((await linkReceipt(body(), later, [profile(3)])).check.status, 'pass');
});

test('samples that name no GPU (an older agent) are skipped, never pass', async () => {
  const store = await storeWithSamples(({ name: _n, uuid: _u, ...s }) => s);
  const f = await linkReceipt(body(), store, [profile(3)]);
  assert.equal(f.check.status, 'skipped');
  assert.match(f.check.detail, /no sample of the request's window names its GPU/);
  assert.equal(f.gpu?.status, 'unnamed');
  assert.equal(f.features?.energyPerToken, 3, 'the features are still computed, for calibration');
  // Some samples without a name (the tool printed [N/A] once) do not count against the others.
  const some = await storeWithSamples((s, i) => (i === 2 ? { ...s, name: undefined } : s));
  assert.equal((await linkReceipt(body(), some, [profile(3)])).check.status, 'pass');
});

test('insufficient data is skipped, never pass', async () => {
  const cases: [ReturnType<typeof body>, LoadedProfile[], RegExp][] = [
    // No sample after the end yet (it may still be on its way).
    [
      body({ time: { start: (T + 50) * 1000, firstByte: null, end: (T + 350) * 1000 } }),
      [profile(3)],
      /no-samples-around-window/,
    ],
    [body({ usage: { prompt: 5, completion: 0, total: 5 } }), [profile(3)], /no output tokens/],
    [body({ usage: { prompt: 5, completion: null, total: null } }), [profile(3)], /no output tokens/],
    [body(), [], /no trusted telemetry profile for model "m"/],
    [
      body({ model: { requested: 'other', reported: 'm' } }),
      [profile(3)],
      /no trusted telemetry profile for model "other"/,
    ],
    [body(), [profile(3, false)], /profile-not-calibrated/],
    [body({ outcome: 'client_aborted' }), [profile(3)], /client_aborted/],
  ];
  for (const [b, profiles, why] of cases) {
    const f = await linkReceipt(b, await storeWithSamples(), profiles);
    assert.equal(f.check.status, 'skipped', f.check.detail);
    assert.match(f.check.detail, why);
  }
});

test('overlapping requests raise the concurrency bucket (no profile for it: skipped)', async () => {
  const store = await storeWithSamples();
  await linkReceipt(body(), store, [profile(3)]);
  const f = await linkReceipt(body(), store, [profile(3)]);
  assert.equal(f.concurrency, 2);
  assert.equal(f.check.status, 'skipped');
  assert.match(f.check.detail, /bucket 2-3/);
});

test('the registry uses only profiles signed by the trusted key, and re-reads its folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-profiles-'));
  try {
    const trusted = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const good = signProfile(profile(3).profile, trusted.privateKey);
    await writeFile(join(dir, 'good.json'), JSON.stringify(good));
    await writeFile(
      join(dir, 'other.json'),
      JSON.stringify(signProfile(profile(3).profile, other.privateKey)),
    );
    const edited = { ...good, profile: { ...good.profile, n: 101 } };
    await writeFile(join(dir, 'edited.json'), JSON.stringify(edited));
    const reg = new ProfileRegistry(dir, ed25519Raw(trusted.publicKey));
    assert.deepEqual(
      reg.list().map((p) => p.file),
      [join(dir, 'good.json')],
    );
    assert.deepEqual(reg.refused.map((r) => r.why).sort(), [
      'signature does not verify',
      'signed by a key other than the trusted profile key',
    ]);
    assert.equal(
      verifyProfileText('{', ed25519Raw(trusted.publicKey)).toString().slice(0, 20),
      'not a signed profile',
    );
    await writeFile(join(dir, 'good2.json'), JSON.stringify(good));
    reg.invalidate();
    assert.equal(reg.list().length, 2);
    assert.throws(() => new ProfileRegistry(dir, undefined), { code: 'VERIFIER_CONFIG_INVALID' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
