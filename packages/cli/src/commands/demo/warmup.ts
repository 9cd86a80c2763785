import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fitWarmupProfile, signProfile } from '@tmb/demo';
import type { FitInput } from '@tmb/stats';
import { ANSWER_TOKENS, settle } from './exchange.ts';
import { SAMPLE_MS, type Stack } from './stack.ts';

/** Honest requests the demo's telemetry profile is fitted on. */
export const WARMUP_REQUESTS = 24;

/**
 * Fits the honest backend's telemetry profile on a short warm-up (docs/profile.md, "The demo's
 * profile"): WARMUP_REQUESTS answers of ANSWER_TOKENS tokens, streamed and not, as the round
 * asks them; their features read back from the verifier; the profile signed with the demo key
 * and dropped into the verifier's profiles folder. Returns a line saying what was fitted;
 * `progress` hears each step as it starts.
 * @throws StatsError when the warm-up's features cannot be fitted
 */
export async function warmUp(
  stack: Stack,
  model: string,
  progress: (line: string) => void = () => {},
): Promise<string> {
  const t = stack.telemetry;
  const honest = stack.backends.find((b) => b.variant === 'honest')!;
  if (t === undefined || honest.gpuUrl === undefined) return '';
  const started = performance.now();
  progress(`warm-up: ${WARMUP_REQUESTS} requests to the honest host to fit its telemetry profile...`);
  await sleep(5 * SAMPLE_MS); // the collector's first samples
  const ids: string[] = [];
  for (let i = 0; i < WARMUP_REQUESTS; i++) {
    const stream = i % 2 === 1;
    const r = await fetch(`${honest.agentUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model,
        messages: [{ role: 'user', content: `warm-up question ${i}` }],
        stream,
        max_tokens: ANSWER_TOKENS,
        min_tokens: ANSWER_TOKENS,
        ...(stream ? { stream_options: { include_usage: true } } : {}),
      }),
    });
    await r.arrayBuffer();
    const id = r.headers.get('tmb-receipt-id');
    if (id !== null) ids.push(id);
  }
  progress('warm-up: waiting for a quote to cover its receipts, then fitting the profile...');
  await settle(stack, honest, ids.at(-1) ?? null);
  const features: FitInput[] = [];
  for (const id of ids) {
    const r = await fetch(`${stack.verifier.url}/v1/telemetry/receipts/${id}`);
    const f = ((await r.json()) as { features?: Record<string, number | null> }).features;
    if (f === undefined) continue;
    const num = (k: string) => (typeof f[k] === 'number' ? (f[k] as number) : Number.NaN);
    features.push({
      energyPerToken: num('energyPerToken'),
      tokensPerSecond: num('tokensPerSecond'),
      utilization: num('utilization'),
      meanPowerW: num('meanPowerW'),
    });
  }
  const gpu = (await (await fetch(`${honest.gpuUrl}/sim/gpu`)).json()) as { powerLimitW: number };
  const profile = fitWarmupProfile(features, { model, powerLimitW: gpu.powerLimitW });
  await writeFile(join(t.profilesDir, 'claimed.json'), JSON.stringify(signProfile(profile, t.signer)));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return (
    `warm-up: ${features.length} requests to the honest backend in ${seconds} s fitted its profile on the SIMULATED GPU ` +
    `(${Math.exp(profile.features.energyPerToken.mu).toFixed(3)} J/token median, ` +
    `${Math.exp(profile.features.tokensPerSecond.mu).toFixed(0)} tokens/s), signed with the demo profile key`
  );
}
