import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { agentBuild } from '@tmb/agent';
import { createVerifiedFetch, type VerifiedFetch } from '@tmb/client';
import type { RuntimePolicy } from '@tmb/core/ima';
import { demoRegistry, type SampleVariant, simulatedBootPolicy, writeDemoWeights } from '@tmb/demo';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import {
  DEMO_NVIDIA_SMI,
  firstQuote,
  type SimHost,
  startEngine,
  startHostAgent,
  startSimHost,
} from './host.ts';
import { type Balancer, type RoutingMode, startBalancer } from './lb.ts';
import { learnPolicy } from './policy.ts';

export type TpmMode = 'auto' | 'swtpm' | 'device' | 'none';

/** Sampling period of the simulated GPU's collector, ms. */
export const SAMPLE_MS = 20;

/** The application PCR each host's agent binds its keys into. */
export const APP_PCR = 15;

/** One backend: a simulated host whose sample server (driving a simulated GPU) sits behind an agent. */
export interface Backend {
  variant: SampleVariant;
  host: SimHost;
  /** The agent's base URL (what the provider's router would send requests to). */
  agentUrl: string;
  /** The simulated GPU's state URL, when telemetry is on. */
  gpuUrl: string | undefined;
  openai: OpenAI;
  /** This host's agent token (the verifier knows one per agent). */
  token: string;
}

/** Everything the demo started, and how to stop it. */
export interface Stack {
  dir: string;
  model: string;
  /** Whether honest answers can reach L1 here (an swtpm and a simulated kernel per host). */
  l1: boolean;
  tpmNote: string;
  verifier: RunningVerifier;
  backends: Backend[];
  tmb: VerifiedFetch;
  /** With telemetry: the profiles folder the verifier reads and the demo key it trusts. */
  telemetry: { profilesDir: string; signer: KeyObject } | undefined;
  /**
   * The provider's router in front of the agents: nginx (its URL, its access log as the ground
   * truth of where each request went), or the client routing by the same weights without nginx.
   */
  lb: Balancer;
  /** The verifier's public key (a JWK file in the state folder), for `tmb chat --verifier-key`. */
  verifierKeyFile: string;
  /** The agent tokens of the first honest host and of the cheap one (attacks reuse the honest host's, as a provider could). */
  tokens: Record<SampleVariant, string>;
  /** A reader token of the verifier: the dashboard's sign-in (docs/dashboard.md). */
  readerToken: string;
  /** The file holding {@link readerToken} (mode 0600), for a person signing in to the dashboard. */
  readerTokenFile: string;
  weights: Record<SampleVariant, string>;
  latencyMs: number;
  close(): Promise<void>;
}

/** Whether an executable is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, name)));
}

/** The hosts of a stack: `hosts - 1` honest ones (gpu-honest, gpu-honest-2, ...) then gpu-cheap. */
export function hostNames(hosts: number): Array<{ name: string; variant: SampleVariant }> {
  const honest = Array.from({ length: hosts - 1 }, (_, i) => ({
    name: i === 0 ? 'gpu-honest' : `gpu-honest-${i + 1}`,
    variant: 'honest' as const,
  }));
  return [...honest, { name: 'gpu-cheap', variant: 'cheap' }];
}

/**
 * Starts the verifier and simulated hosts, honest ones and one cheap one (host.ts), each with an
 * swtpm, a simulated kernel, a sample server and an agent, and the load balancer in front of the
 * agents (lb.ts). With a simulated kernel, a golden honest host is run first to learn the runtime
 * policy (policy.ts). On failure stops what did start.
 */
export async function startStack(o: {
  model: string;
  latencyMs: number;
  tpm: TpmMode;
  telemetry: boolean;
  log: (line: string) => void;
  progress?: (line: string) => void;
  /** Folder the state folder is made in (tmb demo --data-dir). Default: the system's temp folder. */
  parent?: string;
  /** Hosts in all, at least 2: one cheap, the rest honest. Default 2 (one of each). */
  hosts?: number;
  /** Share of the load balancer's requests sent to the cheap host, in [0, 1]. Default 0.2. */
  cheat?: number;
  /** nginx or the client's own routing; default auto: nginx when installed, else direct, said why. */
  routing?: RoutingMode;
}): Promise<Stack> {
  const names = hostNames(o.hosts ?? 2);
  if (names.length < 2) throw new RangeError('a demo stack has at least 2 hosts (one honest, one cheap)');
  const dir = await mkdtemp(join(o.parent ?? tmpdir(), 'tmb-demo-'));
  const closers: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  const progress = o.progress ?? (() => {});
  try {
    const tokenOf = new Map(names.map((h) => [h.name, randomBytes(24).toString('hex')]));
    const tokens = { honest: tokenOf.get('gpu-honest')!, cheap: tokenOf.get('gpu-cheap')! };
    const readerToken = randomBytes(24).toString('hex');
    const swtpm =
      o.tpm === 'swtpm' ||
      (o.tpm === 'auto' && !existsSync('/dev/tpmrm0') && onPath('swtpm') && onPath('swtpm_setup'));
    // Stand-in weights (honest: the model's, cheap: sample-1b) and the registry saying so (docs/registry.md).
    await mkdir(join(dir, 'weights'));
    const weights = await writeDemoWeights(join(dir, 'weights'), o.model);
    const build = await agentBuild();
    const registry = await demoRegistry(weights, [build.digest], { agentManifests: [build.manifest] });
    // The runtime policy: learnt from a golden honest host (a development stand-in for a golden image).
    let why = '';
    let policy: RuntimePolicy | null = null;
    if (swtpm) {
      progress('learning the runtime policy from a golden host (simulated kernel)...');
      try {
        policy = await learnPolicy({
          root: dir,
          model: o.model,
          registry,
          weights,
          latencyMs: o.latencyMs,
          log: o.log,
        });
      } catch (err) {
        if (o.tpm !== 'auto' && o.tpm !== 'swtpm') throw err;
        why = ` (no simulated kernel: ${(err as Error).message.slice(0, 200)})`;
      }
    }
    const kernel = policy !== null;
    const hosts: SimHost[] = [];
    for (const { name, variant } of names) {
      progress(`starting the ${variant} host ${name}...`);
      const host = await startSimHost({
        name,
        variant,
        root: dir,
        kernel,
        tpm: swtpm,
        log: o.log,
      });
      closers.push(() => host.stop());
      hosts.push(host);
    }
    let telemetry: Stack['telemetry'];
    if (o.telemetry) {
      const profilesDir = join(dir, 'profiles');
      await mkdir(profilesDir);
      telemetry = { profilesDir, signer: generateKeyPairSync('ed25519').privateKey };
    }
    progress('starting the verifier...');
    const verifier = await startVerifier({
      registry,
      // The runtime policy, and what the simulated firmware's boot must show (Secure Boot, its boot apps).
      ...(policy !== null ? { imaPolicy: policy, bootPolicy: simulatedBootPolicy() } : {}),
      dbPath: join(dir, 'verifier.db'),
      // A quote must cover each receipt within the client's own wait for one (waitForQuoteMs
      // below), not the production 10 s: the demo's hosts share a development machine's cores
      // (tests run two demos at once), where a quote cycle can lag past 10 s under load.
      inclusionDeadlineMs: 30_000,
      tokens: [...tokenOf].map(([agent, token]) => ({ token, agent })),
      readerTokens: [readerToken],
      tpmRoots: hosts.flatMap((h) => h.tpmRoots),
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
    // waits for a quoted checkpoint to cover each receipt: about a second on an idle machine; the
    // bound is generous so that a loaded one (tests run two demos at once on 2 cores) never
    // reports a receipt as merely pending.
    // Its key is pinned: read here from the verifier this process started, not from the network.
    const verifierKey = (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey;
    const verifierKeyFile = join(dir, 'verifier-key.jwk');
    await writeFile(verifierKeyFile, `${JSON.stringify(verifierKey)}\n`);
    // The dashboard's sign-in token, in a file (owner only) rather than on the terminal.
    const readerTokenFile = join(dir, 'reader-token.txt');
    await writeFile(readerTokenFile, `${readerToken}\n`, { mode: 0o600 });
    const tmb = createVerifiedFetch({
      verifierUrl: verifier.url,
      verifierKey,
      waitForQuoteMs: swtpm ? 30_000 : 0,
    });
    const backends: Backend[] = [];
    for (const host of hosts) {
      const w = weights[host.variant].path;
      progress(`starting ${host.name}'s sample model server and agent...`);
      const engine = await startEngine(host, {
        model: o.model,
        weights: w,
        latencyMs: o.latencyMs,
        gpu: o.telemetry,
      });
      const agent = await startHostAgent(host, {
        upstream: String(engine.ready.listening),
        weights: w,
        nvidiaSmi: o.telemetry ? DEMO_NVIDIA_SMI : null,
        verifier: verifier.url,
        token: tokenOf.get(host.name)!,
        appPcr: APP_PCR,
        sampleMs: SAMPLE_MS,
      });
      // With a TPM, the first answers wait for the agent's first accepted quote: before it the
      // verifier knows no AK of the agent, and its receipts could only be judged at L0.
      if (swtpm) {
        progress(`waiting for ${host.name}'s agent's first TPM quote (AK enrolment, activation)...`);
        await firstQuote(verifier.url, host.name, String(agent.ready.keyId));
      }
      const agentUrl = String(agent.ready.listening);
      const openai = new OpenAI({
        baseURL: `${agentUrl}/v1`,
        apiKey: 'sk-demo-unused',
        fetch: tmb.fetch,
        maxRetries: 0,
      });
      const gpu = engine.ready.gpu;
      backends.push({
        variant: host.variant,
        host,
        agentUrl,
        gpuUrl: typeof gpu === 'string' ? gpu : undefined,
        openai,
        token: tokenOf.get(host.name)!,
      });
    }
    progress('starting the load balancer...');
    const lb = await startBalancer(backends, { share: o.cheat ?? 0.2, routing: o.routing ?? 'auto', tmb });
    closers.push(() => lb.close());
    const l1 = swtpm && kernel;
    const tpmNote = l1
      ? 'hosts: one SIMULATED host each (swtpm, simulated UEFI firmware, simulated kernel IMA in a mount namespace: docs/kernel.md); runtime policy learnt from a golden host: answers can reach L1, named kernel: simulated'
      : swtpm
        ? `hosts: an swtpm each but no kernel IMA log${why}: answers reach L0 only (L1 rests on the kernel's log: docs/deploy.md)`
        : 'TPM: no swtpm (or --tpm none / device): answers reach L0 only, so L1 and L2 are out of reach';
    return {
      dir,
      model: o.model,
      l1,
      tpmNote,
      verifier,
      backends,
      lb,
      verifierKeyFile,
      tmb,
      telemetry,
      tokens,
      readerToken,
      readerTokenFile,
      weights: { honest: weights.honest.path, cheap: weights.cheap.path },
      latencyMs: o.latencyMs,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
