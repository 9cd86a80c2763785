/**
 * TMB's model registry, version 1: the reference values a verifier appraises a host against
 * (DESIGN.md, "Reference values"). Digests are written `<algo>:<hex>` (`sha256:9f86...`); a
 * bare hex string is read as the algorithm its length implies. A weights digest is either a
 * single file's digest (a GGUF file) or the digest of a directory's manifest (safetensors
 * shards; see docs/ima.md, "Directory manifests"). Change rule: new optional members keep the
 * version; anything else bumps `version`.
 */
export interface ModelRegistry {
  version: 1;
  /** Model name as clients ask for it (the request's `model`) to its allowed weights. */
  models: Record<string, { weights: string[] }>;
  /** Engine name (e.g. `llama.cpp`, `vllm`) to the digests of its allowed executables. */
  engines: Record<string, { executables: string[] }>;
  /** Digests of allowed agent builds. */
  agents: string[];
  /**
   * Allowed agent builds by their files (optional): build digest to every file of the build,
   * path relative to `packages/` (agent measure/build.ts AGENT_BUILD_TREES) to its digest. The
   * kernel's IMA log is appraised against these (`host.agent`, docs/registry.md).
   */
  agentBuilds?: Record<string, { files: Record<string, string> }>;
  /** Telemetry tool name (`nvidia-smi`, `dcgm-exporter`) to its allowed executables' digests (optional). */
  tools?: Record<string, string[]>;
}

/** A registry turned into lookups by digest. */
export interface CompiledRegistry {
  registry: ModelRegistry;
  /** Weights digest to every model name that allows it. */
  weightOwners: Map<string, string[]>;
  /** Executable digest to every engine name that allows it. */
  engineOwners: Map<string, string[]>;
  agents: Set<string>;
  /** Agent-build file path (relative to `packages/`) to the digests allowed builds have there. */
  agentFiles: Map<string, Set<string>>;
  /** The build trees (first two path segments of each file, e.g. `agent/src`), longest first. */
  agentTrees: string[];
  /** Every agent-build file digest (any path). */
  agentFileDigests: Set<string>;
  /** Tool executable digest to every tool name that allows it. */
  toolOwners: Map<string, string[]>;
}

/** How the weights behind one request stand (DESIGN.md, step 7). */
export type WeightsStatus =
  /** Measured, and allowed for the model asked for. */
  | 'allowed'
  /** Measured, but not an allowed build of the model asked for (`belongsTo` names whose they are). */
  | 'not-allowed'
  /** The registry has no such model name. */
  | 'unknown-model'
  /** The provider named a digest no quoted measurement shows: only its word. */
  | 'asserted';

/** The per-request weights verdict. */
export interface WeightsVerdict {
  status: WeightsStatus;
  model: string;
  /** The weights digest the receipt names, normalised; null when it names none. */
  digest: string | null;
  /** Models whose allowed weights include `digest` (empty when none). */
  belongsTo: string[];
}
