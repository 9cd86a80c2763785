/**
 * `tmb demo --telemetry`: the whole telemetry path on a SIMULATED GPU. Each sample model server
 * drives a simulated GPU (the cheap one spends 0.6 times the energy per token); each agent runs
 * its real nvidia-smi collector against demo/bin/nvidia-smi, digest-chains the samples and
 * pushes them to the verifier; a warm-up on the honest backend calibrates a profile, signed with
 * a demo key the verifier trusts; then both backends are asked and each verdict's
 * telemetry.consistent check says whether the GPU did what the claimed model does.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AgentOptions, agentBuild, type RunningAgent, startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { type ClientResult, createVerifiedFetch } from '@tmb/client';
import type { Check } from '@tmb/core';
import type { FitInput, Profile } from '@tmb/stats';
import { startVerifier } from '@tmb/verifier';
import { CHEAP_LATENCY_FACTOR, type SampleVariant } from '../sample/options.ts';
import { type RunningSampleServer, startSampleServer } from '../sample/server.ts';
import { demoRegistry, SAMPLE_ENGINE_EXE, writeDemoWeights } from '../weights/index.ts';
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
  /**
   * `swtpm`: an swtpm per agent, measured stand-in weights and a model registry, as `tmb demo`
   * does, so honest answers can reach L1 and, with telemetry, L2. Default `none` (L0 at most).
   */
  tpm?: 'swtpm' | 'none';
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
  /** The level an honest answer reaches here: L2 with TPMs, L0 without. */
  expected: 'L0' | 'L2';
}

const SAMPLE_MS = 20;
const ANSWER_TOKENS = 48;

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
    const useTpm = o.tpm === 'swtpm';
    const tpms: Record<SampleVariant, AgentOptions['tpm']> = { honest: 'none', cheap: 'none' };
    const tpmRoots: string[] = [];
    for (const variant of useTpm ? (['honest', 'cheap'] as const) : []) {
      const state = await provisionSwtpm(join(dir, `swtpm-${variant}`));
      const swtpm = await startSwtpm(state);
      closers.push(() => swtpm.stop());
      tpms[variant] = swtpm.tcti;
      tpmRoots.push(await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8'));
    }
    // With TPMs, measured stand-in weights (honest: the model's, cheap: sample-1b) and a registry.
    const weights = useTpm ? await writeDemoWeights(dir, model) : undefined;
    const verifier = await startVerifier({
      dbPath: join(dir, 'verifier.db'),
      tokens: [{ token }],
      ...(weights ? { registry: await demoRegistry(weights, [(await agentBuild()).digest]), tpmRoots } : {}),
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
          ...(weights
            ? {
                measure: { weights: [weights[variant].path], engineExe: SAMPLE_ENGINE_EXE },
                tpm: tpms[variant],
                appPcr: variant === 'honest' ? 15 : 14,
                checkpointIntervalMs: 300,
                checkpointMinIntervalMs: 250,
              }
            : {}),
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
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, waitForQuoteMs: useTpm ? 5_000 : 0 });
    const ask = async (b: Backend, i: number, stream: boolean) => {
      const r = await tmb.fetch(`${b.agent.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          messages: [{ role: 'user', content: `telemetry demo question ${i}` }],
          stream,
          // A fixed length (vLLM's min_tokens), so even the fast cheap answers span several samples.
          max_tokens: ANSWER_TOKENS,
          min_tokens: ANSWER_TOKENS,
          ...(stream ? { stream_options: { include_usage: true } } : {}),
        }),
      });
      await r.arrayBuffer();
      return r;
    };
    // Let the samples after the end of receipt `id` reach the verifier (polled, up to 5 s: the
    // stand-in nvidia-smi may lag on a busy machine) before its verdict is asked for.
    const settle = async (b: Backend, id: string | null) => {
      for (let i = 0; i < 100; i++) {
        await sleep(3 * SAMPLE_MS);
        await b.agent.telemetry?.flush().catch(() => {});
        await b.agent.flush().catch(() => {});
        if (id === null) return;
        const r = await fetch(`${verifier.url}/v1/telemetry/receipts/${id}`);
        const f = (await r.json()) as { check?: { detail: string } };
        if (r.status === 200 && !/no-samples-around-window/.test(f.check?.detail ?? '')) return;
      }
    };
    const honest = backends[0]!;
    await sleep(10 * SAMPLE_MS);
    const warm = o.warmup ?? 30;
    say(`warm-up: ${warm} requests to the honest backend to fit its profile (the GPU is SIMULATED)`);
    const ids: string[] = [];
    for (let i = 0; i < warm; i++)
      ids.push((await ask(honest, 1000 + i, true)).headers.get('tmb-receipt-id') ?? '');
    await settle(honest, ids.at(-1) ?? null);
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
      await settle(b, response.headers.get('tmb-receipt-id'));
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
    return { profile, rows, caught, expected: useTpm ? 'L2' : 'L0' };
  } finally {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  }
}
