import type { ImaEntry } from '../ima/types.ts';
import type { Check } from '../verdict/types.ts';
import { normalizeDigest } from './digest.ts';
import type { CompiledRegistry, WeightsVerdict } from './types.ts';

/**
 * The `<algo>:<hex>` digests a set of entries measured, violations left out (their content is
 * bound by nothing). Pass only entries a quote covers (advanceIma's `accepted`, or a log whose
 * full replay matched); `into` accumulates them across rounds.
 */
export function measuredDigests(entries: readonly ImaEntry[], into: Set<string> = new Set()): Set<string> {
  for (const e of entries) if (!e.violation) into.add(`${e.digestAlg}:${e.digest}`);
  return into;
}

/**
 * Whether the weights that served one request were measured and allowed for the model asked
 * for (DESIGN.md, step 7). Check `weights.allowed`: pass when allowed; fail MODEL_UNKNOWN or
 * WEIGHTS_NOT_ALLOWED (naming which models the digest belongs to, if any); `asserted` when no
 * quoted measurement shows the digest the provider named.
 */
export function weightsVerdict(
  model: string,
  weightsDigest: string | null,
  measured: ReadonlySet<string>,
  reg: CompiledRegistry,
): { verdict: WeightsVerdict; check: Check } {
  let digest: string | null = null;
  try {
    digest = weightsDigest === null ? null : normalizeDigest(weightsDigest);
  } catch {
    digest = null;
  }
  const belongsTo = digest === null ? [] : (reg.weightOwners.get(digest) ?? []);
  const verdict = (status: WeightsVerdict['status']): WeightsVerdict => ({
    status,
    model,
    digest,
    belongsTo,
  });
  const owners =
    belongsTo.length > 0
      ? `they are weights of ${belongsTo.join(', ')}`
      : 'they belong to no registered model';
  const name = 'weights.allowed';
  const entry = Object.hasOwn(reg.registry.models, model) ? reg.registry.models[model] : undefined;
  if (entry === undefined) {
    return {
      verdict: verdict('unknown-model'),
      check: {
        name,
        status: 'fail',
        code: 'MODEL_UNKNOWN',
        detail: `model ${JSON.stringify(model)} is not in the registry`,
      },
    };
  }
  if (digest === null || !measured.has(digest)) {
    const what =
      digest === null
        ? 'names no valid weights digest'
        : `names weights ${digest}, which no quoted measurement shows`;
    return {
      verdict: verdict('asserted'),
      check: { name, status: 'asserted', detail: `the provider ${what}` },
    };
  }
  if (entry.weights.includes(digest)) {
    return {
      verdict: verdict('allowed'),
      check: { name, status: 'pass', detail: `measured weights ${digest} are an allowed build of ${model}` },
    };
  }
  return {
    verdict: verdict('not-allowed'),
    check: {
      name,
      status: 'fail',
      code: 'WEIGHTS_NOT_ALLOWED',
      detail: `measured weights ${digest} are not allowed for ${model}: ${owners}`,
    },
  };
}

/**
 * Host checks against the registry: `host.agent` passes when an allowed agent build was
 * measured (AGENT_BUILD_NOT_ALLOWED otherwise); `host.engine` when an allowed executable of
 * `engine` (of any engine when null) was measured (ENGINE_NOT_ALLOWED otherwise).
 */
export function appraiseHost(
  measured: ReadonlySet<string>,
  reg: CompiledRegistry,
  engine: string | null = null,
): Check[] {
  const agent = [...measured].find((d) => reg.agents.has(d));
  const engines = new Set<string>();
  for (const d of measured) for (const e of reg.engineOwners.get(d) ?? []) engines.add(e);
  const engineOk = engine === null ? engines.size > 0 : engines.has(engine);
  const wanted = engine === null ? 'any registered engine' : JSON.stringify(engine);
  return [
    agent !== undefined
      ? { name: 'host.agent', status: 'pass', detail: `allowed agent build ${agent} measured` }
      : {
          name: 'host.agent',
          status: 'fail',
          code: 'AGENT_BUILD_NOT_ALLOWED',
          detail: 'no allowed agent build among the measurements',
        },
    engineOk
      ? {
          name: 'host.engine',
          status: 'pass',
          detail: `allowed executable of ${[...engines].sort().join(', ')} measured`,
        }
      : {
          name: 'host.engine',
          status: 'fail',
          code: 'ENGINE_NOT_ALLOWED',
          detail: `no allowed executable of ${wanted} among the measurements`,
        },
  ];
}
