/**
 * `tmb demo --telemetry`: the whole telemetry path on a SIMULATED GPU. Each sample model server
 * drives a simulated GPU (the cheap one spends 0.6 times the energy per token); each agent runs
 * its real nvidia-smi collector against demo/bin/nvidia-smi, digest-chains the samples and
 * pushes them to the verifier; a warm-up on the honest backend calibrates a profile, signed with
 * a demo key the verifier trusts; then both backends are asked and each verdict's
 * telemetry.consistent check says whether the GPU did what the claimed model does.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningAgent, startAgent } from '@tmb/agent';
import { type ClientResult, createVerifiedFetch } from '@tmb/client';
import type { Check } from '@tmb/core';
import type { FitInput, Profile } from '@tmb/stats';
import { startVerifier } from '@tmb/verifier';
import { CHEAP_LATENCY_FACTOR, type SampleVariant } from '../sample/options.ts';
import { type RunningSampleServer, startSampleServer } from '../sample/server.ts';
import { fitWarmupProfile, signProfile } from './calibrate.ts';
import { type RunningSimGpu, startSimulatedGpu, writeNvidiaSmiWrapper } from './server.ts';

/** Options of runTelemetryDemo. */
export interface TelemetryDemoOptions {
  model?: string;
  /** The honest sample's ms per token (the cheap one: x0.4). Default 5; must be > 0. */
  tokenLatencyMs?: number;
  /** Honest warm-up requests the profile is fitted on. Default 30. */
  warmup?: number;
  /** Requests per backend after the warm-up. Default 4. */
  requests?: number;
  /** Progress lines for people. */
  say?: (line: string) => void;
}

/** One request of the demo and its telemetry check. */
export interface TelemetryDemoRow {
  backend: SampleVariant;
  stream: boolean;
  completionTokens: number | null;
  level: ClientResult['level'];
  ok: boolean;
  telemetry: Check | undefined;
}

/** What the demo did. */
export interface TelemetryDemoResult {
  profile: Profile;
  rows: TelemetryDemoRow[];
  /** Every honest request passed telemetry.consistent and every cheap one failed it. */
  caught: boolean;
}

const SAMPLE_MS = 20;

interface Backend {
  variant: SampleVariant;
  gpu: RunningSimGpu;
  sample: RunningSampleServer;
  agent: RunningAgent;
}

/** Runs the demo (see the file comment); stops and removes everything it started before returning. */
export async function runTelemetryDemo(o: TelemetryDemoOptions = {}): Promise<TelemetryDemoResult> {
  const model = o.model ?? 'sample-7b';
  const latency = o.tokenLatencyMs ?? 5;
  if (!(latency > 0)) throw new RangeError('the telemetry demo needs a token latency > 0');
  const say = o.say ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'tmb-telemetry-demo-'));
  const closers: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  try {
    const profiles = join(dir, 'profiles');
    await mkdir(profiles);
    const signer = generateKeyPairSync('ed25519');
    const token = randomBytes(24).toString('hex');
    const verifier = await startVerifier({
      dbPath: join(dir, 'verifier.db'),
      tokens: [{ token }],
      telemetry: {
        profilesDir: profiles,
        profileKey: signer.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      },
    });
    closers.push(() => verifier.close());
    const backends: Backend[] = [];
    for (const variant of ['honest', 'cheap'] as const) {
      const gpu = await startSimulatedGpu({
        variant,
        tokenLatencyMs: variant === 'cheap' ? latency * CHEAP_LATENCY_FACTOR : latency,
      });
      closers.push(() => gpu.close());
      const sample = await startSampleServer({
        model,
        variant,
        tokenLatencyMs: latency,
        onRequest: gpu.onRequest,
      });
      closers.push(() => sample.close());
      const gpuDir = join(dir, `gpu-${variant}`);
      await mkdir(gpuDir);
      const agent = await startAgent(
        {
          upstream: sample.url,
          dataDir: gpuDir,
          name: `gpu-${variant}`,
          verifier: { url: verifier.url, token },
          telemetry: {
            nvidiaSmi: await writeNvidiaSmiWrapper(gpuDir, gpu.url),
            intervalMs: SAMPLE_MS,
            pushIntervalMs: 200,
          },
        },
        () => {},
      );
      closers.push(() => agent.close());
      backends.push({ variant, gpu, sample, agent });
      say(`${variant.padEnd(6)} SAMPLE server ${sample.url}, SIMULATED GPU ${gpu.url}, agent ${agent.url}`);
    }
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url });
    const ask = async (b: Backend, i: number, stream: boolean) => {
      const r = await tmb.fetch(`${b.agent.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          messages: [{ role: 'user', content: `telemetry demo question ${i}` }],
          stream,
          ...(stream ? { stream_options: { include_usage: true } } : {}),
        }),
      });
      await r.arrayBuffer();
      return r;
    };
    // Let the samples after the end arrive before the verdict is asked for.
    const settle = async (b: Backend) => {
      await sleep(3 * SAMPLE_MS);
      await b.agent.telemetry?.flush().catch(() => {});
      await b.agent.flush().catch(() => {});
    };
    const honest = backends[0]!;
    await sleep(10 * SAMPLE_MS);
    const warm = o.warmup ?? 30;
    say(`warm-up: ${warm} requests to the honest backend to fit its profile (the GPU is SIMULATED)`);
    const ids: string[] = [];
    for (let i = 0; i < warm; i++)
      ids.push((await ask(honest, 1000 + i, true)).headers.get('tmb-receipt-id') ?? '');
    await settle(honest);
    const features: FitInput[] = [];
    for (const id of ids) {
      const r = await fetch(`${verifier.url}/v1/telemetry/receipts/${id}`);
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
    const profile = fitWarmupProfile(features, { model, powerLimitW: honest.gpu.gpu.options.powerLimitW });
    await writeFile(join(profiles, 'claimed.json'), JSON.stringify(signProfile(profile, signer.privateKey)));
    const e = profile.features.energyPerToken;
    say(
      `profile from ${features.length} warm-up requests, signed with the demo profile key: ` +
        `${Math.exp(e.mu).toFixed(3)} J/token (median), ${Math.exp(profile.features.tokensPerSecond.mu).toFixed(0)} tokens/s`,
    );
    const rows: TelemetryDemoRow[] = [];
    for (let i = 0; i < 2 * (o.requests ?? 4); i++) {
      const b = backends[i % 2]!;
      const stream = Math.floor(i / 2) % 2 === 0;
      const response = await ask(b, i, stream);
      await settle(b);
      const result = await tmb.verify(response);
      // The client fetched its verdict as the answer ended, before the samples after the end
      // reached the verifier; verdicts are recomputed on every read, so ask again now.
      const again = (await (await fetch(`${verifier.url}/v1/receipts/${result.receiptId}`)).json()) as {
        verdict?: { level: ClientResult['level']; checks: Check[] };
      };
      rows.push({
        backend: b.variant,
        stream,
        completionTokens: result.body?.usage.completion ?? null,
        level: again.verdict?.level ?? 'none',
        ok: result.ok && (again.verdict?.checks.every((c) => c.status !== 'fail') ?? false),
        telemetry: again.verdict?.checks.find((c) => c.name === 'telemetry.consistent'),
      });
    }
    const caught = rows.every((r) =>
      r.backend === 'honest'
        ? r.telemetry?.status === 'pass'
        : r.telemetry?.code === 'TELEMETRY_INCONSISTENT',
    );
    return { profile, rows, caught };
  } finally {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  }
}
