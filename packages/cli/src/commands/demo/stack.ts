import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { type AgentOptions, agentBuild, type RunningAgent, startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { createVerifiedFetch, type VerifiedFetch } from '@tmb/client';
import {
  CHEAP_LATENCY_FACTOR,
  demoRegistry,
  type RunningSampleServer,
  type RunningSimGpu,
  SAMPLE_ENGINE_EXE,
  type SampleVariant,
  startSampleServer,
  startSimulatedGpu,
  writeDemoWeights,
  writeNvidiaSmiWrapper,
} from '@tmb/demo';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';

export type TpmMode = 'auto' | 'swtpm' | 'device' | 'none';

/** Sampling period of the simulated GPU's collector, ms. */
export const SAMPLE_MS = 20;

/** One backend: a sample server (driving a simulated GPU with telemetry) behind an agent. */
export interface Backend {
  variant: SampleVariant;
  sample: RunningSampleServer;
  gpu: RunningSimGpu | undefined;
  agent: RunningAgent;
  openai: OpenAI;
}

/** Everything the demo started, and how to stop it. */
export interface Stack {
  /** Whether honest answers can reach L1 here (an swtpm per agent). */
  l1: boolean;
  tpmNote: string;
  verifier: RunningVerifier;
  backends: Backend[];
  tmb: VerifiedFetch;
  /** With telemetry: the profiles folder the verifier reads and the demo key it trusts. */
  telemetry: { profilesDir: string; signer: KeyObject } | undefined;
  close(): Promise<void>;
}

/** Whether an executable is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, name)));
}

/** Starts verifier, simulated GPUs, sample servers and agents; on failure stops what did start. */
export async function startStack(o: {
  model: string;
  latencyMs: number;
  tpm: TpmMode;
  telemetry: boolean;
  log: (line: string) => void;
}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-demo-'));
  const closers: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const tokens = { honest: randomBytes(24).toString('hex'), cheap: randomBytes(24).toString('hex') };
    let mode: TpmMode =
      o.tpm !== 'auto'
        ? o.tpm
        : existsSync('/dev/tpmrm0')
          ? 'device'
          : onPath('swtpm') && onPath('swtpm_setup')
            ? 'swtpm'
            : 'none';
    // One TPM per agent: an swtpm each (each with its own local CA), or the host's TPM, shared,
    // with a PCR each (PCR 15 and 14).
    const tpms: Record<SampleVariant, AgentOptions['tpm']> = { honest: 'none', cheap: 'none' };
    const tpmRoots: string[] = [];
    let why = '';
    for (const variant of ['honest', 'cheap'] as const) {
      if (mode === 'device') tpms[variant] = { kind: 'device' };
      if (mode !== 'swtpm') continue;
      try {
        const state = await provisionSwtpm(join(dir, `swtpm-${variant}`));
        const swtpm = await startSwtpm(state);
        closers.push(() => swtpm.stop());
        tpms[variant] = swtpm.tcti;
        tpmRoots.push(
          await readFile(state.rootCertPath, 'utf8'),
          await readFile(state.issuerCertPath, 'utf8'),
        );
      } catch (err) {
        if (o.tpm !== 'auto') throw err;
        // auto: where swtpm cannot be provisioned the demo runs at L0 and says why.
        mode = 'none';
        why = ` (swtpm failed: ${(err as Error).message.slice(0, 160)})`;
        tpms.honest = 'none';
        tpms.cheap = 'none';
      }
    }
    // Stand-in weights (honest: the model's, cheap: sample-1b) and the registry saying so (docs/registry.md).
    const weights = await writeDemoWeights(dir, o.model);
    let telemetry: Stack['telemetry'];
    if (o.telemetry) {
      const profilesDir = join(dir, 'profiles');
      await mkdir(profilesDir);
      telemetry = { profilesDir, signer: generateKeyPairSync('ed25519').privateKey };
    }
    const verifier = await startVerifier({
      registry: await demoRegistry(weights, [(await agentBuild()).digest]),
      dbPath: join(dir, 'verifier.db'),
      tokens: [
        { token: tokens.honest, agent: 'gpu-honest' },
        { token: tokens.cheap, agent: 'gpu-cheap' },
      ],
      tpmRoots,
      ...(telemetry
        ? {
            telemetry: {
              profilesDir: telemetry.profilesDir,
              profileKey: createPublicKey(telemetry.signer)
                .export({ format: 'pem', type: 'spki' })
                .toString(),
            },
          }
        : {}),
    });
    closers.push(() => verifier.close());
    // The client names its own verifier rather than trusting the provider's tmb-receipt-url, and
    // waits (up to 5 s) for a quoted checkpoint to cover each receipt.
    const tmb = createVerifiedFetch({
      verifierUrl: verifier.url,
      waitForQuoteMs: mode === 'none' ? 0 : 5_000,
    });
    const backends: Backend[] = [];
    for (const variant of ['honest', 'cheap'] as const) {
      const name = `gpu-${variant}`;
      const dataDir = join(dir, name);
      await mkdir(dataDir);
      const gpu = o.telemetry
        ? await startSimulatedGpu({
            variant,
            tokenLatencyMs: variant === 'cheap' ? o.latencyMs * CHEAP_LATENCY_FACTOR : o.latencyMs,
          })
        : undefined;
      if (gpu) closers.push(() => gpu.close());
      const sample = await startSampleServer({
        model: o.model,
        variant,
        tokenLatencyMs: o.latencyMs,
        ...(gpu ? { onRequest: gpu.onRequest } : {}),
      });
      closers.push(() => sample.close());
      const agent = await startAgent(
        {
          upstream: sample.url,
          dataDir,
          name,
          verifier: { url: verifier.url, token: tokens[variant] },
          measure: { weights: [weights[variant].path], engineExe: SAMPLE_ENGINE_EXE },
          tpm: tpms[variant],
          appPcr: variant === 'honest' ? 15 : 14,
          // Quote a little more often than the 1 s default, so each answer is covered quickly.
          checkpointIntervalMs: 300,
          checkpointMinIntervalMs: 250,
          ...(gpu
            ? {
                telemetry: {
                  nvidiaSmi: await writeNvidiaSmiWrapper(dataDir, gpu.url),
                  intervalMs: SAMPLE_MS,
                  pushIntervalMs: 200,
                },
              }
            : {}),
        },
        (event, detail) => o.log(`${name} ${event} ${JSON.stringify(detail)}`),
      );
      closers.push(() => agent.close());
      const openai = new OpenAI({
        baseURL: `${agent.url}/v1`,
        apiKey: 'sk-demo-unused',
        fetch: tmb.fetch,
        maxRetries: 0,
      });
      backends.push({ variant, sample, gpu, agent, openai });
    }
    const tpmNote =
      mode === 'swtpm'
        ? 'TPM: one swtpm per agent (software TPM, local CA trusted by the verifier): answers can reach L1'
        : mode === 'device'
          ? "TPM: the host TPM at /dev/tpmrm0, but the demo's verifier knows no TPM manufacturer's CA: answers reach L0 (tmb verifier --tpm-roots DIR gives it one)"
          : `TPM: none (no /dev/tpmrm0 and no swtpm, or --tpm none)${why}: answers reach L0 only, so L1 and L2 are out of reach`;
    return { l1: mode === 'swtpm', tpmNote, verifier, backends, tmb, telemetry, close };
  } catch (err) {
    await close();
    throw err;
  }
}
