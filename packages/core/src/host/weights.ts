import type { CompiledRegistry } from '../registry/types.ts';
import type { Check } from '../verdict/types.ts';

const short = (d: string) => `${d.slice(0, d.indexOf(':') + 17)}…`;

/**
 * `weights.allowed` of one receipt from the segment judging it (docs/result.md): every
 * registered weights file the kernel measured since boot, up to that quote, must be an allowed
 * build of the model the receipt asked for. Fail WEIGHTS_NOT_ALLOWED naming whose weights
 * were read, WEIGHTS_NOT_MEASURED when none were (the engine never loaded registered weights),
 * MODEL_UNKNOWN for a model the registry lacks; skipped when the request names no model.
 */
export function weightsCheck(model: string | null, read: readonly string[], reg: CompiledRegistry): Check {
  const name = 'weights.allowed';
  if (model === null) return { name, status: 'skipped', detail: 'the request names no model' };
  const entry = Object.hasOwn(reg.registry.models, model) ? reg.registry.models[model] : undefined;
  if (entry === undefined)
    return {
      name,
      status: 'fail',
      code: 'MODEL_UNKNOWN',
      detail: `model ${JSON.stringify(model)} is not in the registry`,
    };
  if (read.length === 0)
    return {
      name,
      status: 'fail',
      code: 'WEIGHTS_NOT_MEASURED',
      detail:
        'the kernel log shows no registered weights file read since boot: the engine never loaded registered weights',
    };
  const foreign = read.filter((d) => !entry.weights.includes(d));
  if (foreign.length > 0) {
    const whose = foreign.map(
      (d) => `${short(d)} (weights of ${(reg.weightOwners.get(d) ?? ['no registered model']).join(', ')})`,
    );
    return {
      name,
      status: 'fail',
      code: 'WEIGHTS_NOT_ALLOWED',
      detail: `the host read weights not allowed for ${JSON.stringify(model)} since boot: ${whose.join(', ')}`,
    };
  }
  return {
    name,
    status: 'pass',
    detail: `every weights file the kernel measured since boot (${read.map(short).join(', ')}) is an allowed build of ${JSON.stringify(model)}`,
  };
}
