import { CoreError } from '../errors.ts';
import { normalizeDigest } from './digest.ts';
import type { CompiledRegistry, ModelRegistry } from './types.ts';

/**
 * Reads a model registry (JSON text or parsed value), checking every member and normalising
 * every digest to `<algo>:<hex>`.
 * @throws CoreError REGISTRY_INVALID naming the member that is wrong
 */
export function parseRegistry(input: string | unknown): ModelRegistry {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch (cause) {
      throw new CoreError('REGISTRY_INVALID', 'registry is not JSON', { cause });
    }
  }
  const r = obj(v, 'registry');
  if (r.version !== 1) bad('version', `expected 1, found ${JSON.stringify(r.version)}`);
  const models: ModelRegistry['models'] = Object.create(null);
  for (const [name, m] of Object.entries(obj(r.models, 'models'))) {
    models[name] = { weights: digests(obj(m, `models.${name}`).weights, `models.${name}.weights`) };
  }
  const engines: ModelRegistry['engines'] = Object.create(null);
  for (const [name, e] of Object.entries(obj(r.engines ?? {}, 'engines'))) {
    engines[name] = {
      executables: digests(obj(e, `engines.${name}`).executables, `engines.${name}.executables`),
    };
  }
  return { version: 1, models, engines, agents: digests(r.agents ?? [], 'agents') };
}

/** Lookups by digest for a parsed registry. */
export function compileRegistry(registry: ModelRegistry): CompiledRegistry {
  const owners = (pairs: [string, string[]][]) => {
    const m = new Map<string, string[]>();
    for (const [name, list] of pairs) for (const d of list) m.set(d, [...(m.get(d) ?? []), name]);
    return m;
  };
  return {
    registry,
    weightOwners: owners(Object.entries(registry.models).map(([n, m]) => [n, m.weights])),
    engineOwners: owners(Object.entries(registry.engines).map(([n, e]) => [n, e.executables])),
    agents: new Set(registry.agents),
  };
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(where, 'not an object');
  return v as Record<string, unknown>;
}

function digests(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    bad(where, 'not an array of digest strings');
  try {
    return [...new Set((v as string[]).map(normalizeDigest))];
  } catch (err) {
    bad(where, (err as Error).message);
  }
}

function bad(where: string, what: string): never {
  throw new CoreError('REGISTRY_INVALID', `registry ${where}: ${what}`);
}
