import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SampleVariant } from '../sample/options.ts';
import { type DemoWeights, SAMPLE_ENGINE_EXE } from './files.ts';

/** The engine name the demo registry lists the sample server under. */
export const SAMPLE_ENGINE = 'tmb-sample';

/**
 * The demo's model registry (docs/registry.md, version 1): each stand-in weights digest under
 * the model it is registered as (honest: sample-7b, cheap: sample-1b), the sample server's
 * source as the one allowed engine executable, and `agentBuilds` (the digests of the agent
 * builds allowed: the demo passes the running checkout's).
 */
export async function demoRegistry(
  weights: Record<SampleVariant, DemoWeights>,
  agentBuilds: readonly string[],
): Promise<{
  version: 1;
  models: Record<string, { weights: string[] }>;
  engines: Record<string, { executables: string[] }>;
  agents: string[];
}> {
  const models: Record<string, { weights: string[] }> = {};
  for (const w of Object.values(weights)) {
    models[w.model] ??= { weights: [] };
    models[w.model]!.weights.push(w.digest);
  }
  const engine = `sha256:${createHash('sha256')
    .update(await readFile(SAMPLE_ENGINE_EXE))
    .digest('hex')}`;
  return {
    version: 1,
    models,
    engines: { [SAMPLE_ENGINE]: { executables: [engine] } },
    agents: [...agentBuilds],
  };
}
