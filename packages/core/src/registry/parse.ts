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
  const out: ModelRegistry = { version: 1, models, engines, agents: digests(r.agents ?? [], 'agents') };
  if (r.agentBuilds !== undefined) {
    const builds: NonNullable<ModelRegistry['agentBuilds']> = Object.create(null);
    for (const [d, b] of Object.entries(obj(r.agentBuilds, 'agentBuilds'))) {
      const where = `agentBuilds.${d}`;
      const [digest] = digests([d], where);
      const files: Record<string, string> = Object.create(null);
      for (const [rel, fd] of Object.entries(obj(obj(b, where).files, `${where}.files`))) {
        if (!/^[A-Za-z0-9._@-]+(\/[A-Za-z0-9._@-]+)+$/.test(rel) || rel.split('/').includes('..'))
          bad(`${where}.files`, `${JSON.stringify(rel)} is not a relative path under packages/`);
        files[rel] = digests([fd], `${where}.files.${rel}`)[0]!;
      }
      builds[digest!] = { files };
    }
    out.agentBuilds = builds;
  }
  if (r.tools !== undefined) {
    const tools: Record<string, string[]> = Object.create(null);
    for (const [name, list] of Object.entries(obj(r.tools, 'tools')))
      tools[name] = digests(list, `tools.${name}`);
    out.tools = tools;
  }
  return out;
}

/** Lookups by digest for a parsed registry. */
export function compileRegistry(registry: ModelRegistry): CompiledRegistry {
  const owners = (pairs: [string, string[]][]) => {
    const m = new Map<string, string[]>();
    for (const [name, list] of pairs) for (const d of list) m.set(d, [...(m.get(d) ?? []), name]);
    return m;
  };
  const agentFiles = new Map<string, Set<string>>();
  const trees = new Set<string>();
  for (const b of Object.values(registry.agentBuilds ?? {}))
    for (const [rel, d] of Object.entries(b.files)) {
      const set = agentFiles.get(rel) ?? new Set<string>();
      set.add(d);
      agentFiles.set(rel, set);
      trees.add(rel.split('/').slice(0, 2).join('/'));
    }
  return {
    registry,
    weightOwners: owners(Object.entries(registry.models).map(([n, m]) => [n, m.weights])),
    engineOwners: owners(Object.entries(registry.engines).map(([n, e]) => [n, e.executables])),
    agents: new Set([...registry.agents, ...Object.keys(registry.agentBuilds ?? {})]),
    agentFiles,
    agentTrees: [...trees].sort((a, b) => b.length - a.length),
    agentFileDigests: new Set([...agentFiles.values()].flatMap((s) => [...s])),
    toolOwners: owners(Object.entries(registry.tools ?? {})),
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
