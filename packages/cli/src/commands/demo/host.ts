import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { provisionSwtpm, type Swtpm, startSwtpm } from '@tmb/agent/tpm';
import {
  FAKE_NVIDIA_SMI,
  SAMPLE_ENGINE_EXE,
  type SampleVariant,
  type SimulatedKernel,
  simulateFirmware,
  startSimulatedKernel,
} from '@tmb/demo';

/** The `tmb` CLI's entry, run on this process's Node by every process of a simulated host. */
export const CLI_MAIN = fileURLToPath(new URL('../../main.ts', import.meta.url));

/** A process of a host, started and stopped by the demo. */
export interface HostProcess {
  child: ChildProcess;
  /** The JSON line it printed when ready. */
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** What an agent of a simulated host is started with (`tmb agent` flags beyond the fixed ones). */
export interface AgentLaunch {
  upstream: string;
  /** Weights the agent is told to measure into its own log (the kernel's log is what counts). */
  weights: string;
  /** nvidia-smi to stream telemetry from (default the demo's stand-in), or null for none. */
  nvidiaSmi: string | null;
  env?: Record<string, string>;
  /** Run another CLI entry than this checkout's (the patched-agent attack). */
  cliMain?: string;
  /** `--tpm-transport` (docs/tpm.md); left out: the agent's default (`auto`). */
  tpmTransport?: 'wire' | 'tools';
}

/**
 * One SIMULATED inference host: an swtpm, the simulated kernel that owns it and measures every
 * open inside the host's mount namespace (docs/kernel.md), and inside that namespace a sample
 * model server (the engine, which reads its weights) and a `tmb agent` in front of it.
 * Without a simulated kernel (not root, no fanotify or gcc) the processes run on this machine
 * as they are and the agent has no kernel log: its answers stay at L0.
 */
export interface SimHost {
  name: string;
  variant: SampleVariant;
  dir: string;
  /** The agent's data folder: the one path of the host a runtime policy excludes. */
  dataDir: string;
  kernel: SimulatedKernel | undefined;
  swtpm: Swtpm | undefined;
  /** PEM texts of the swtpm's local CA (root and issuer), for the verifier's EK roots. */
  tpmRoots: string[];
  engine: HostProcess | undefined;
  agent: HostProcess | undefined;
  /** Starts a process inside the host and waits for its JSON "ready" line. */
  start(args: string[], env?: Record<string, string>, cliMain?: string): Promise<HostProcess>;
  /** Runs a process inside the host to its end; resolves to its exit code and output. */
  run(cmd: string, args: string[]): Promise<{ code: number; out: string }>;
  stop(): Promise<void>;
}

/** Starts the swtpm and simulated kernel of a host; engine and agent come after (startEngine, startHostAgent). */
export async function startSimHost(o: {
  name: string;
  variant: SampleVariant;
  root: string;
  /** False: no simulated kernel (and no swtpm when `tpm` is false too). */
  kernel: boolean;
  tpm: boolean;
  log: (line: string) => void;
}): Promise<SimHost> {
  const dir = join(o.root, 'hosts', o.name);
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const closers: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    let swtpm: Swtpm | undefined;
    let kernel: SimulatedKernel | undefined;
    const tpmRoots: string[] = [];
    if (o.tpm) {
      const state = await provisionSwtpm(join(dir, 'swtpm'));
      swtpm = await startSwtpm(state);
      closers.push(() => swtpm!.stop());
      tpmRoots.push(await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8'));
      if (o.kernel) {
        kernel = await startSimulatedKernel({
          stateDir: join(dir, 'kernel'),
          tpm: swtpm.tcti,
          firmware: simulateFirmware,
          log: (l: string) => o.log(`${o.name} kernel ${l}`),
        });
        closers.push(() => kernel!.close());
      }
    }
    const host: SimHost = {
      name: o.name,
      variant: o.variant,
      dir,
      dataDir,
      kernel,
      swtpm,
      tpmRoots,
      engine: undefined,
      agent: undefined,
      start: async (args, env = {}, cliMain = CLI_MAIN) => {
        const p = await startReady(kernel, process.execPath, [cliMain, ...args], env, o.log, o.name);
        closers.push(() => p.stop());
        return p;
      },
      run: (cmd, args) => runToEnd(kernel, cmd, args),
      stop,
    };
    return host;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts the host's engine: `tmb sample-server` reading its weights, with a simulated GPU when asked. */
export async function startEngine(
  host: SimHost,
  o: { model: string; weights: string; latencyMs: number; gpu: boolean },
): Promise<HostProcess> {
  const args = ['sample-server', '--model', o.model, '--variant', host.variant];
  args.push('--token-latency', String(o.latencyMs), '--weights', o.weights);
  if (o.gpu) args.push('--gpu');
  host.engine = await host.start(args);
  return host.engine;
}

/** Starts (or restarts, after stopping the running one) the host's `tmb agent`. */
export async function startHostAgent(
  host: SimHost,
  o: AgentLaunch & { verifier: string; token: string; appPcr: number; sampleMs: number },
): Promise<HostProcess> {
  await host.agent?.stop();
  const args = ['agent', '--name', host.name, '--upstream', o.upstream, '--data-dir', host.dataDir];
  args.push('--verifier', o.verifier, '--weights', o.weights, '--engine-exe', SAMPLE_ENGINE_EXE);
  args.push('--tpm-pcr', String(o.appPcr));
  args.push('--checkpoint-ms', '300');
  if (o.tpmTransport !== undefined) args.push('--tpm-transport', o.tpmTransport);
  if (host.swtpm === undefined) args.push('--tpm', 'none');
  else {
    const tcti = host.kernel?.tcti ?? host.swtpm.tcti;
    if (tcti.kind === 'swtpm') args.push('--tpm', `swtpm:host=${tcti.host ?? '127.0.0.1'},port=${tcti.port}`);
  }
  if (host.kernel !== undefined) args.push('--securityfs', host.kernel.securityfs);
  else args.push('--no-kernel-ima');
  if (o.nvidiaSmi !== null) args.push('--nvidia-smi', o.nvidiaSmi, '--telemetry-ms', String(o.sampleMs));
  const gpu = host.engine?.ready.gpu;
  const env = {
    TMB_AGENT_TOKEN: o.token,
    ...(typeof gpu === 'string' ? { TMB_SIM_GPU_URL: gpu } : {}),
    ...o.env,
  };
  host.agent = await host.start(args, env, o.cliMain);
  return host.agent;
}

/**
 * Waits until the verifier holds a quoted checkpoint of `agent` signed by the key `keyId` of the
 * agent process just started (its AK activated and a first quote accepted), of at least
 * `minSize` receipts: a condition, bounded at 120 s for a heavily loaded machine.
 * @throws Error when none arrives in time
 */
export async function firstQuote(
  verifierUrl: string,
  agent: string,
  keyId: string,
  minSize = 0,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await fetch(`${verifierUrl}/v1/agents/${agent}/checkpoint`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await r.json().catch(() => ({}))) as { keyId?: string; size?: number };
    if (r.status === 200 && body.keyId === keyId && (body.size ?? 0) >= minSize) return;
    await sleep(50);
  }
  const what = minSize > 0 ? `covering ${minSize} receipts ` : '';
  throw new Error(`agent ${agent}: no quote ${what}by key ${keyId.slice(0, 16)}… accepted within 120 s`);
}

/** The nvidia-smi stand-in every simulated host runs (one file: one digest in the registry's tools). */
export const DEMO_NVIDIA_SMI = FAKE_NVIDIA_SMI;

function launch(
  kernel: SimulatedKernel | undefined,
  cmd: string,
  args: string[],
  env: Record<string, string>,
): ChildProcess {
  const opts = {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
  return kernel ? kernel.spawn(cmd, args, opts) : spawn(cmd, args, opts);
}

/** Spawns a process (inside the host when there is a kernel) and waits for its first JSON line. */
async function startReady(
  kernel: SimulatedKernel | undefined,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  log: (line: string) => void,
  name: string,
): Promise<HostProcess> {
  const child = launch(kernel, cmd, args, env);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
    for (const l of d.toString().split('\n')) if (l.trim() !== '') log(`${name} ${l}`);
  });
  const exited = new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${name}: ${args[1]} not ready in 60 s: ${err.trim()}`)),
      60_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
      } catch {
        reject(new Error(`${name}: ${args[1]} printed ${out.slice(0, 200)}`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${args[1]} exited ${code}: ${err.trim().slice(-1500)}`));
    });
  }).catch(async (e: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw e;
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  };
  return { child, ready, stop };
}

function runToEnd(
  kernel: SimulatedKernel | undefined,
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string }> {
  const child = launch(kernel, cmd, args, {});
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  });
  return new Promise((r) => child.once('exit', (c) => r({ code: c ?? 1, out })));
}
