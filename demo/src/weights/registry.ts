import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FAKE_NVIDIA_SMI } from '../gpu/server.ts';
import type { SampleVariant } from '../sample/options.ts';
import { type DemoWeights, SAMPLE_ENGINE_EXE } from './files.ts';

/** The engine name the demo registry lists the sample server under. */
export const SAMPLE_ENGINE = 'tmb-sample';

/**
 * The demo's model registry (docs/registry.md, version 1): each stand-in weights digest under
 * the model it is registered as (honest: sample-7b, cheap: sample-1b), the sample server's
 * source as the one allowed engine executable, `agents` (the digests of the agent builds
 * allowed: the demo passes the running checkout's), and, with `agentManifests`, each build's
 * files (`agentBuilds`, so a verifier can tell the build's files apart in the kernel's log) and
 * the nvidia-smi stand-in as the one allowed telemetry tool (`tools`).
 */
export async function demoRegistry(
  weights: Record<SampleVariant, DemoWeights>,
  agentBuilds: readonly string[],
  o: { agentManifests?: readonly Uint8Array[] } = {},
): Promise<{
  version: 1;
  models: Record<string, { weights: string[] }>;
  engines: Record<string, { executables: string[] }>;
  agents: string[];
  agentBuilds?: Record<string, { files: Record<string, string> }>;
  tools?: Record<string, string[]>;
}> {
  const models: Record<string, { weights: string[] }> = {};
  for (const w of Object.values(weights)) {
    models[w.model] ??= { weights: [] };
    models[w.model]!.weights.push(w.digest);
  }
  const engine = `sha256:${createHash('sha256')
    .update(await readFile(SAMPLE_ENGINE_EXE))
    .digest('hex')}`;
  const sha = async (path: string) =>
    `sha256:${createHash('sha256')
      .update(await readFile(path))
      .digest('hex')}`;
  const manifests = o.agentManifests ?? [];
  return {
    version: 1,
    models,
    engines: { [SAMPLE_ENGINE]: { executables: [engine] } },
    agents: [...agentBuilds],
    ...(manifests.length > 0
      ? {
          agentBuilds: Object.fromEntries(
            manifests.map((m) => [manifestDigest(m), { files: manifestFiles(m) }]),
          ),
          tools: { 'nvidia-smi': [await sha(FAKE_NVIDIA_SMI)] },
        }
      : {}),
  };
}

/** `sha256:<hex>` of a build manifest: the agent build digest (docs/registry.md). */
function manifestDigest(m: Uint8Array): string {
  return `sha256:${createHash('sha256').update(m).digest('hex')}`;
}

/** A manifest's `<hex>  <path>` lines as path -> `sha256:<hex>`. */
function manifestFiles(m: Uint8Array): Record<string, string> {
  const files: Record<string, string> = {};
  for (const line of new TextDecoder().decode(m).split('\n')) {
    const at = line.indexOf('  ');
    if (at === 64) files[line.slice(66)] = `sha256:${line.slice(0, 64)}`;
  }
  return files;
}
