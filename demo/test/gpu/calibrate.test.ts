import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitWarmupProfile, SIM_GPU_NAME, SimulatedGpu } from '@tmb/demo';
import { createRng, type FitInput, gpuNameMatches } from '@tmb/stats';

test("the demo's warm-up profile is for the GPU that the simulated nvidia-smi names, so the honest demo passes the GPU identity check", () => {
  const rng = createRng(7);
  const features: FitInput[] = Array.from({ length: 24 }, () => ({
    energyPerToken: Math.exp(Math.log(1.5) + 0.05 * rng.normal()),
    tokensPerSecond: Math.exp(Math.log(60) + 0.1 * rng.normal()),
    utilization: Math.min(0.99, Math.max(0.5, 0.9 + 0.03 * rng.normal())),
    meanPowerW: 150 + 10 * rng.normal(),
  }));
  const profile = fitWarmupProfile(features, { model: 'm', powerLimitW: 700 });
  assert.equal(profile.key.gpuModel, SIM_GPU_NAME);
  for (const variant of ['honest', 'cheap'] as const) {
    const name = new SimulatedGpu({ variant, tokenLatencyMs: 10 }).read().name;
    assert.ok(gpuNameMatches(name, profile.key.gpuModel), `${variant}: ${name}`);
  }
});
