import { cp, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import { CLI_MAIN, DEMO_NVIDIA_SMI, firstQuote, startEngine, startHostAgent } from './host.ts';
import { APP_PCR, type Backend, SAMPLE_MS, type Stack } from './stack.ts';

/**
 * The attacks of a provider with root on the honest host (issue 8), each run by `tmb demo
 * --attack NAME` after the honest round, and the check that must catch it.
 */
export const ATTACKS = {
  forge: {
    what: 'no tmb agent: a script of its own, with the agent token and the TPM, receipts answers from the cheap model server',
    caughtBy: 'host.integrity',
  },
  preload: {
    what: 'the real agent, with NODE_OPTIONS=--import of a preload that reroutes its upstream to the cheap model server',
    caughtBy: 'host.integrity',
  },
  'patched-agent': {
    what: 'a copy of the agent with one source file changed, run in place of the real one',
    caughtBy: 'host.agent',
  },
  'wrong-weights': {
    what: "the real agent, told to measure the honest weights, in front of an engine that loaded sample-1b's",
    caughtBy: 'weights.allowed',
  },
  'fake-smi': {
    what: 'the real agent reading GPU telemetry from a stand-in nvidia-smi of the provider (constant power)',
    caughtBy: 'telemetry.tool',
  },
  'swap-upstream': {
    what: "the real agent, unchanged, pointed at the cheap host's model server (configuration the kernel does not log)",
    caughtBy: 'host.upstream',
  },
} as const;

export type AttackName = keyof typeof ATTACKS;

export function isAttack(name: string): name is AttackName {
  return Object.hasOwn(ATTACKS, name);
}

/**
 * Runs attack `name` on the honest host: after it, the honest backend's agent URL is whatever the
 * attack left serving (its OpenAI client is replaced). Files the attack writes go to
 * `<demo dir>/attack/`, outside every path the runtime policy excludes.
 */
export async function runAttack(stack: Stack, name: AttackName): Promise<void> {
  const b = stack.backends.find((x) => x.variant === 'honest')!;
  const cheap = stack.backends.find((x) => x.variant === 'cheap')!;
  const dir = join(stack.dir, 'attack');
  await mkdir(dir, { recursive: true });
  const cheapUpstream = String(cheap.host.engine!.ready.listening);
  const honestUpstream = String(b.host.engine!.ready.listening);
  const launch = {
    verifier: stack.verifier.url,
    token: stack.tokens.honest,
    appPcr: APP_PCR,
    sampleMs: SAMPLE_MS,
  };
  const base = {
    upstream: honestUpstream,
    weights: stack.weights.honest,
    nvidiaSmi: stack.telemetry ? DEMO_NVIDIA_SMI : null,
    ...launch,
  };
  switch (name) {
    case 'forge': {
      const script = join(dir, 'forge.mjs');
      await writeFile(
        script,
        `// FORGER (tmb demo --attack forge): not the agent. With the agent's token and the host's TPM
// it signs receipts for the cheap model server and claims the honest weights.
const { main } = await import(${JSON.stringify(pathToFileURL(CLI_MAIN).href)});
process.exitCode = await main(process.argv.slice(2));
`,
      );
      await startHostAgent(b.host, { ...base, upstream: cheapUpstream, cliMain: script });
      break;
    }
    case 'preload': {
      const preload = join(dir, 'preload.mjs');
      await writeFile(
        preload,
        `// PRELOAD (tmb demo --attack preload): reroutes the agent's upstream before it starts.
const at = process.argv.indexOf('--upstream');
if (at !== -1) process.argv[at + 1] = ${JSON.stringify(cheapUpstream)};
`,
      );
      await startHostAgent(b.host, {
        ...base,
        env: { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` },
      });
      break;
    }
    case 'patched-agent':
      await startHostAgent(b.host, { ...base, cliMain: await patchedTree(join(dir, 'tree')) });
      break;
    case 'wrong-weights': {
      await b.host.engine!.stop();
      const engine = await startEngine(b.host, {
        model: stack.model,
        weights: stack.weights.cheap,
        latencyMs: stack.latencyMs,
        gpu: stack.telemetry !== undefined,
      });
      await startHostAgent(b.host, { ...base, upstream: String(engine.ready.listening) });
      break;
    }
    case 'fake-smi': {
      const fake = join(dir, 'nvidia-smi');
      const real = await readFile(DEMO_NVIDIA_SMI, 'utf8');
      // The same program, printing a constant 300 W whatever the GPU does.
      await writeFile(
        fake,
        real.replaceAll('num(s.powerW,', 'num(300,').replaceAll('num(s.powerInstantW,', 'num(300,'),
        {
          mode: 0o755,
        },
      );
      await startHostAgent(b.host, { ...base, nvidiaSmi: fake });
      break;
    }
    case 'swap-upstream':
      await startHostAgent(b.host, { ...base, upstream: cheapUpstream });
      break;
  }
  // The attacked host's new agent process (new key) is quoted before the round is sent.
  if (stack.l1) await firstQuote(stack.verifier.url, b.host.name, String(b.host.agent!.ready.keyId));
  retarget(stack, b);
}

/** Points the honest backend's client at the agent now serving on its host. */
function retarget(stack: Stack, b: Backend): void {
  b.agentUrl = String(b.host.agent!.ready.listening);
  b.openai = new OpenAI({
    baseURL: `${b.agentUrl}/v1`,
    apiKey: 'sk-demo-unused',
    fetch: stack.tmb.fetch,
    maxRetries: 0,
  });
}

/**
 * A copy of this checkout's packages (sources only) with one agent source file changed, and a
 * node_modules whose @tmb packages are the copies: what a provider runs in place of the real
 * agent. Returns the copy's CLI entry.
 */
async function patchedTree(to: string): Promise<string> {
  const repo = new URL('../../../../../', import.meta.url).pathname.replace(/\/$/, '');
  const packages = ['agent', 'cli', 'client', 'core', 'stats', 'verifier'];
  for (const p of packages) {
    await cp(join(repo, 'packages', p, 'src'), join(to, 'packages', p, 'src'), { recursive: true });
    await cp(join(repo, 'packages', p, 'package.json'), join(to, 'packages', p, 'package.json'));
  }
  await cp(join(repo, 'demo', 'src'), join(to, 'demo', 'src'), { recursive: true });
  await cp(join(repo, 'demo', 'bin'), join(to, 'demo', 'bin'), { recursive: true });
  await cp(join(repo, 'demo', 'package.json'), join(to, 'demo', 'package.json'));
  await mkdir(join(to, 'node_modules', '@tmb'), { recursive: true });
  for (const name of await readdir(join(repo, 'node_modules'))) {
    if (name === '@tmb' || name === '.bin') continue;
    await symlink(join(repo, 'node_modules', name), join(to, 'node_modules', name));
  }
  for (const p of packages) await symlink(join(to, 'packages', p), join(to, 'node_modules', '@tmb', p));
  await symlink(join(to, 'demo'), join(to, 'node_modules', '@tmb', 'demo'));
  const file = join(to, 'packages', 'agent', 'src', 'proxy', 'exchange.ts');
  await writeFile(file, `${await readFile(file, 'utf8')}\n// patched by the provider\n`);
  return join(to, 'packages', 'cli', 'src', 'main.ts');
}
