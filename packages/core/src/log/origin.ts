import { isAgentName } from '../receipt/ids.ts';

// The origin of an agent's receipt log (docs/evidence.md; docs/checkpoint.md): the first line
// of each checkpoint, and the key name of the checkpoint's signed-note signature.

/** What every agent's log origin starts with. */
export const LOG_ORIGIN_PREFIX = 'tmb/agent/';

/**
 * The origin (and note key name) of an agent's checkpoints: `tmb/agent/<agent name>`.
 * @example logOrigin('gpu-1') === 'tmb/agent/gpu-1'
 */
export function logOrigin(agent: string): string {
  return `${LOG_ORIGIN_PREFIX}${agent}`;
}

/**
 * Whether `name` can name an agent that signs checkpoints: an agent name (isAgentName) without
 * '+', since the origin is a signed-note key name and C2SP signed-note forbids '+' there. The
 * verifier accepts the wider set (isAgentName) on its API; the agent refuses to start under a
 * name this rejects.
 */
export function isLogAgentName(name: unknown): name is string {
  return isAgentName(name) && !name.includes('+');
}
