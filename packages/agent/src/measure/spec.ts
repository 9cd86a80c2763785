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

/** Whether a spec asks for anything to be measured. */
export function isEmptySpec(spec: HostSpec): boolean {
  return (
    (spec.weights?.length ?? 0) === 0 &&
    spec.engineExe === undefined &&
    (spec.engineConfig?.length ?? 0) === 0 &&
    spec.agentBuild === false
  );
}
