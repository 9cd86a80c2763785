import type { CompiledRegistry } from '../registry/types.ts';
import type { Check } from '../verdict/types.ts';

const short = (d: string) => `${d.slice(0, d.indexOf(':') + 17)}…`;

/**
 * The registry entry of the model a receipt asked for, or the check `name` gives when there is
 * none: skipped when the request names no model, fail MODEL_UNKNOWN when the registry lacks it.
 * Shared by the checks that judge weights against the requested model.
 */
export function registeredModel(
  name: string,
  model: string | null,
  reg: CompiledRegistry,
): { entry: { weights: string[] } } | { check: Check } {
  if (model === null) return { check: { name, status: 'skipped', detail: 'the request names no model' } };
  const entry = Object.hasOwn(reg.registry.models, model) ? reg.registry.models[model] : undefined;
  if (entry === undefined)
    return {
      check: {
        name,
        status: 'fail',
        code: 'MODEL_UNKNOWN',
        detail: `model ${JSON.stringify(model)} is not in the registry`,
      },
    };
  return { entry };
}

/**
 * `weights.allowed` of one receipt from the segment judging it (docs/result.md): every
 * registered weights file the kernel measured since boot, up to that quote, must be an allowed
 * build of the model the receipt asked for. Fail WEIGHTS_NOT_ALLOWED naming whose weights
 * were read, WEIGHTS_NOT_MEASURED when none were (the engine never loaded registered weights),
 * MODEL_UNKNOWN for a model the registry lacks; skipped when the request names no model.
 */
export function weightsCheck(model: string | null, read: readonly string[], reg: CompiledRegistry): Check {
  const name = 'weights.allowed';
  const m = registeredModel(name, model, reg);
  if ('check' in m) return m.check;
  const { entry } = m;
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

/**
 * `weights.served` of one receipt v2 from the segment judging it (docs/result.md): the weights
 * digest the receipt names (`served.weights`, the agent's word at its start) must be among the
 * registered weights the kernel measured since boot up to that quote. Skipped for a v1 receipt,
 * a receipt that names none, or a host without a kernel log; fail WEIGHTS_SERVED_NOT_MEASURED
 * otherwise. It makes the receipt's own claim per request checkable, so that a telemetry
 * profile chosen by it (docs/telemetry.md) rests on weights the kernel saw.
 */
export function servedCheck(served: string | null, read: readonly string[], kernel: boolean): Check {
  const name = 'weights.served';
  if (served === null)
    return {
      name,
      status: 'skipped',
      detail: 'the receipt names no served weights (v1, or none measured at start)',
    };
  if (!kernel)
    return { name, status: 'skipped', detail: 'no kernel IMA log to compare the served weights with' };
  const digest = `sha256:${served}`;
  return read.includes(digest)
    ? {
        name,
        status: 'pass',
        detail: `the served weights ${short(digest)} were read by the host, per its kernel log`,
      }
    : {
        name,
        status: 'fail',
        code: 'WEIGHTS_SERVED_NOT_MEASURED',
        detail: `the receipt names weights ${short(digest)}; the kernel log shows no read of registered weights with that digest since boot`,
      };
}
