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

/** What {@link startStack} takes. */
export interface StackOptions {
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
}

/** Stops, newest first; each step of startStack adds what it started. */
type Closers = Array<() => Promise<unknown>>;

/** What the first steps settle: the state folder's weights and registry, tokens, the TPM mode. */
interface Plan {
  dir: string;
  names: Array<{ name: string; variant: SampleVariant }>;
  tokenOf: Map<string, string>;
  readerToken: string;
  swtpm: boolean;
  weights: Awaited<ReturnType<typeof writeDemoWeights>>;
  registry: Awaited<ReturnType<typeof demoRegistry>>;
  progress: (line: string) => void;
}

/**
 * Starts the verifier and simulated hosts, honest ones and one cheap one (host.ts), each with an
 * swtpm, a simulated kernel, a sample server and an agent, and the load balancer in front of the
 * agents (lb.ts). With a simulated kernel, a golden honest host is run first to learn the runtime
 * policy (policy.ts). On failure stops what did start.
 */
export async function startStack(o: StackOptions): Promise<Stack> {
  const names = hostNames(o.hosts ?? 2);
  if (names.length < 2) throw new RangeError('a demo stack has at least 2 hosts (one honest, one cheap)');
  const dir = await mkdtemp(join(o.parent ?? tmpdir(), 'tmb-demo-'));
  const closers: Closers = [() => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const plan = await planStack(o, dir, names);
    const { policy, why } = await runtimePolicy(o, plan);
    const kernel = policy !== null;
    const hosts = await startHosts(o, plan, kernel, closers);
    const front = await startFront(o, plan, policy, hosts, closers);
    const backends = await startBackends(o, plan, hosts, front);
    plan.progress('starting the load balancer...');
    const lb = await startBalancer(backends, {
      share: o.cheat ?? 0.2,
      routing: o.routing ?? 'auto',
      tmb: front.tmb,
    });
    closers.push(() => lb.close());
    const l1 = plan.swtpm && kernel;
    return {
      dir,
      model: o.model,
      l1,
      tpmNote: tpmNote(plan.swtpm, l1, why),
      verifier: front.verifier,
      backends,
      lb,
      verifierKeyFile: front.verifierKeyFile,
      tmb: front.tmb,
      telemetry: front.telemetry,
      tokens: { honest: plan.tokenOf.get('gpu-honest')!, cheap: plan.tokenOf.get('gpu-cheap')! },
      readerToken: plan.readerToken,
      readerTokenFile: front.readerTokenFile,
      weights: { honest: plan.weights.honest.path, cheap: plan.weights.cheap.path },
      latencyMs: o.latencyMs,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Tokens, whether hosts get an swtpm, the stand-in weights and the registry saying so. */
async function planStack(o: StackOptions, dir: string, names: Plan['names']): Promise<Plan> {
  const tokenOf = new Map(names.map((h) => [h.name, randomBytes(24).toString('hex')]));
  const readerToken = randomBytes(24).toString('hex');
  const swtpm =
    o.tpm === 'swtpm' ||
    (o.tpm === 'auto' && !existsSync('/dev/tpmrm0') && onPath('swtpm') && onPath('swtpm_setup'));
  // Stand-in weights (honest: the model's, cheap: sample-1b) and the registry saying so (docs/registry.md).
  await mkdir(join(dir, 'weights'));
  const weights = await writeDemoWeights(join(dir, 'weights'), o.model);
  const build = await agentBuild();
  const registry = await demoRegistry(weights, [build.digest], { agentManifests: [build.manifest] });
  return { dir, names, tokenOf, readerToken, swtpm, weights, registry, progress: o.progress ?? (() => {}) };
}

/**
 * The runtime policy: learnt from a golden honest host (a development stand-in for a golden
 * image), with an swtpm only; null (and why, for the TPM note) when there is none.
 */
async function runtimePolicy(
  o: StackOptions,
  plan: Plan,
): Promise<{ policy: RuntimePolicy | null; why: string }> {
  if (!plan.swtpm) return { policy: null, why: '' };
  plan.progress('learning the runtime policy from a golden host (simulated kernel)...');
  try {
    const policy = await learnPolicy({
      root: plan.dir,
      model: o.model,
      registry: plan.registry,
      weights: plan.weights,
      latencyMs: o.latencyMs,
      log: o.log,
    });
    return { policy, why: '' };
  } catch (err) {
    if (o.tpm !== 'auto' && o.tpm !== 'swtpm') throw err;
    return { policy: null, why: ` (no simulated kernel: ${(err as Error).message.slice(0, 200)})` };
  }
}

/** One simulated host per name, in order (their swtpm and simulated kernel). */
async function startHosts(
  o: StackOptions,
  plan: Plan,
  kernel: boolean,
  closers: Closers,
): Promise<SimHost[]> {
  const hosts: SimHost[] = [];
  for (const { name, variant } of plan.names) {
    plan.progress(`starting the ${variant} host ${name}...`);
    const host = await startSimHost({
      name,
      variant,
      root: plan.dir,
      kernel,
      tpm: plan.swtpm,
      log: o.log,
    });
    closers.push(() => host.stop());
    hosts.push(host);
  }
  return hosts;
}

/** The verifier and what a client of it needs: its pinned key, the reader token's file, the verified fetch. */
interface Front {
  verifier: RunningVerifier;
  verifierKeyFile: string;
  readerTokenFile: string;
  tmb: VerifiedFetch;
  telemetry: Stack['telemetry'];
}

/** The verifier (trusting the hosts' TPM roots and, with telemetry, the demo's profile key) and its client. */
async function startFront(
  o: StackOptions,
  plan: Plan,
  policy: RuntimePolicy | null,
  hosts: SimHost[],
  closers: Closers,
): Promise<Front> {
  let telemetry: Stack['telemetry'];
  if (o.telemetry) {
    const profilesDir = join(plan.dir, 'profiles');
    await mkdir(profilesDir);
    telemetry = { profilesDir, signer: generateKeyPairSync('ed25519').privateKey };
  }
  plan.progress('starting the verifier...');
  const verifier = await startVerifier({
    registry: plan.registry,
    // The runtime policy, and what the simulated firmware's boot must show (Secure Boot, its boot apps).
    ...(policy !== null ? { imaPolicy: policy, bootPolicy: simulatedBootPolicy() } : {}),
    dbPath: join(plan.dir, 'verifier.db'),
    // A quote must cover each receipt within the client's own wait for one (waitForQuoteMs
    // below), not the production 10 s: the demo's hosts share a development machine's cores
    // (tests run two demos at once), where a quote cycle can lag past 10 s under load.
    inclusionDeadlineMs: 30_000,
    tokens: [...plan.tokenOf].map(([agent, token]) => ({ token, agent })),
    readerTokens: [plan.readerToken],
    tpmRoots: hosts.flatMap((h) => h.tpmRoots),
    ...(telemetry
      ? {
          telemetry: {
            profilesDir: telemetry.profilesDir,
            profileKey: createPublicKey(telemetry.signer).export({ format: 'pem', type: 'spki' }).toString(),
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
  const verifierKeyFile = join(plan.dir, 'verifier-key.jwk');
  await writeFile(verifierKeyFile, `${JSON.stringify(verifierKey)}\n`);
  // The dashboard's sign-in token, in a file (owner only) rather than on the terminal.
  const readerTokenFile = join(plan.dir, 'reader-token.txt');
  await writeFile(readerTokenFile, `${plan.readerToken}\n`, { mode: 0o600 });
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    verifierKey,
    waitForQuoteMs: plan.swtpm ? 30_000 : 0,
  });
  return { verifier, verifierKeyFile, readerTokenFile, tmb, telemetry };
}

/**
 * Each host's sample model server and agent, in host order; with a TPM, each waits for its
 * agent's first accepted quote. The host's stop (startHosts) stops both.
 */
async function startBackends(
  o: StackOptions,
  plan: Plan,
  hosts: SimHost[],
  front: Front,
): Promise<Backend[]> {
  const backends: Backend[] = [];
  for (const host of hosts) {
    const w = plan.weights[host.variant].path;
    plan.progress(`starting ${host.name}'s sample model server and agent...`);
    const engine = await startEngine(host, {
      model: o.model,
      weights: w,
      latencyMs: o.latencyMs,
      gpu: o.telemetry,
    });
    const token = plan.tokenOf.get(host.name)!;
    const agent = await startHostAgent(host, {
      upstream: String(engine.ready.listening),
      weights: w,
      nvidiaSmi: o.telemetry ? DEMO_NVIDIA_SMI : null,
      verifier: front.verifier.url,
      token,
      appPcr: APP_PCR,
      sampleMs: SAMPLE_MS,
    });
    // With a TPM, the first answers wait for the agent's first accepted quote: before it the
    // verifier knows no AK of the agent, and its receipts could only be judged at L0.
    if (plan.swtpm) {
      plan.progress(`waiting for ${host.name}'s agent's first TPM quote (AK enrolment, activation)...`);
      await firstQuote(front.verifier.url, host.name, String(agent.ready.keyId));
    }
    const agentUrl = String(agent.ready.listening);
    const openai = new OpenAI({
      baseURL: `${agentUrl}/v1`,
      apiKey: 'sk-demo-unused',
      fetch: front.tmb.fetch,
      maxRetries: 0,
    });
    const gpu = engine.ready.gpu;
    backends.push({
      variant: host.variant,
      host,
      agentUrl,
      gpuUrl: typeof gpu === 'string' ? gpu : undefined,
      openai,
      token,
    });
  }
  return backends;
}

/** What the stack can prove, in words (printed by tmb demo). */
function tpmNote(swtpm: boolean, l1: boolean, why: string): string {
  if (l1)
    return 'hosts: one SIMULATED host each (swtpm, simulated UEFI firmware, simulated kernel IMA in a mount namespace: docs/kernel.md); runtime policy learnt from a golden host: answers can reach L1, named kernel: simulated';
  return swtpm
    ? `hosts: an swtpm each but no kernel IMA log${why}: answers reach L0 only (L1 rests on the kernel's log: docs/deploy.md)`
    : 'TPM: no swtpm (or --tpm none / device): answers reach L0 only, so L1 and L2 are out of reach';
}
