import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SampleVariant } from '../sample/options.ts';

/** Size of each stand-in weights file: enough to be hashed in chunks, small enough for any temp dir. */
export const DEMO_WEIGHTS_BYTES = 256 * 1024;

/** The model name each sample backend's stand-in weights are registered as (docs/registry.md). */
export const DEMO_WEIGHTS_MODEL: Record<SampleVariant, string> = { honest: 'sample-7b', cheap: 'sample-1b' };

/** A stand-in weights file written for one backend. */
export interface DemoWeights {
  variant: SampleVariant;
  /** The model these bytes are registered as. */
  model: string;
  path: string;
  /** `sha256:<hex>` of the file. */
  digest: string;
}

/**
 * The bytes of a stand-in weights file: NOT a model. A text header saying so, then
 * SHA-256 in counter mode over the model name, so the same name always gives the same bytes
 * (and digest) and two names never share one.
 */
export function demoWeightsBytes(model: string, size = DEMO_WEIGHTS_BYTES): Uint8Array {
  const out = new Uint8Array(size);
  const header = new TextEncoder().encode(`TMB DEMO STAND-IN WEIGHTS, NOT A MODEL: ${model}\n`);
  out.set(header.subarray(0, size));
  for (let at = header.length, i = 0; at < size; at += 32, i++) {
    const block = createHash('sha256').update(`tmb-demo-weights\0${model}\0${i}`).digest();
    out.set(block.subarray(0, Math.min(32, size - at)), at);
  }
  return out;
}

/**
 * Writes one stand-in weights file per sample backend into `dir` (the demo's temporary
 * folder): `<model>.gguf-sample`, honest as `honestModel` (the model name the demo serves,
 * default sample-7b), cheap as sample-1b.
 */
export async function writeDemoWeights(
  dir: string,
  honestModel = DEMO_WEIGHTS_MODEL.honest,
): Promise<Record<SampleVariant, DemoWeights>> {
  const out = {} as Record<SampleVariant, DemoWeights>;
  for (const variant of ['honest', 'cheap'] as const) {
    const model = variant === 'honest' ? honestModel : DEMO_WEIGHTS_MODEL.cheap;
    const bytes = demoWeightsBytes(model);
    const path = join(dir, `${model}.gguf-sample`);
    await writeFile(path, bytes);
    out[variant] = {
      variant,
      model,
      path,
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    };
  }
  return out;
}

/** The sample model server's source file: the demo's agents measure it as their engine "executable". */
export const SAMPLE_ENGINE_EXE = fileURLToPath(new URL('../sample/server.ts', import.meta.url));
