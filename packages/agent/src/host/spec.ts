/**
 * What the agent measures about its host at start (docs/registry.md, "What the agent
 * measures"). Every path is measured into the agent's measurement log (docs/ima.md) and
 * declared with a role event, so a verifier knows which measured digest is the weights.
 */
export interface HostSpec {
  /** Model weights: GGUF files (measured by their digest) or directories, e.g. a safetensors
   * snapshot (measured by their manifest's digest). Left out: no weights measured, and a verifier
   * with a registry can say nothing better than `skipped` for `weights.allowed`. */
  weights?: readonly string[];
  /** The model server's executable (vllm's python entry point, llama-server...). */
  engineExe?: string;
  /** The model server's configuration files. */
  engineConfig?: readonly string[];
  /** Measure the agent's own build (docs/registry.md, "Agent build"). Default true. */
  agentBuild?: boolean;
  /** How often measured files are checked for change (inode, size, times; re-hashed only then).
   * Default 5000 ms: a swap shows in the log within 5 s, and in a verdict after the next quote. */
  watchMs?: number;
}

/** Prefix of the ima-buf events that declare what a measured path is: its buffer is the absolute path. */
export const ROLE_EVENT = 'tmb.role:';

/** The roles a measured path can have. */
export const HOST_ROLES = ['weights', 'engine', 'engine-config'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

/** The ima-buf event whose buffer is the agent build's manifest and whose digest is the build digest. */
export const AGENT_BUILD_EVENT = 'tmb.agent-build';

/** Whether a spec asks for anything to be measured. */
export function isEmptySpec(spec: HostSpec): boolean {
  return (
    (spec.weights?.length ?? 0) === 0 &&
    spec.engineExe === undefined &&
    (spec.engineConfig?.length ?? 0) === 0 &&
    spec.agentBuild === false
  );
}
