import { jcsBytes } from '../bytes/canonical.ts';

// Telemetry batches (docs/telemetry.md, "The batch chain"): the agent cuts its samples into
// batches and pushes them to the verifier; both sides derive a batch's bytes from its values.

/**
 * A batch of samples as the agent pushes it. Version 1: a change to the members or to how
 * they are written bumps `v` (and the chain domain, TELEMETRY_CHAIN_DOMAIN).
 * `G` and `P` are the sample types (the agent's GpuSample/ProcSample, or parsed JSON on the
 * verifier's side); the bytes depend only on their JSON values.
 */
export interface TelemetryBatch<G = unknown, P = unknown> {
  v: 1;
  /** 0 for the first batch of a chain (an agent start), then +1 per batch. */
  seq: number;
  gpu: G[];
  proc: P[];
}

/**
 * The bytes of a batch: RFC 8785 canonical JSON of `{v, seq, gpu, proc}` (floats allowed, keys
 * sorted), so the verifier re-derives the agent's bytes from the parsed batch.
 * @throws CoreError BAD_ENCODING when a sample holds a value JSON cannot carry (NaN, Infinity).
 */
export function telemetryBatchBytes(batch: {
  readonly v: 1;
  readonly seq: number;
  readonly gpu: readonly unknown[];
  readonly proc: readonly unknown[];
}): Uint8Array {
  return jcsBytes(batch);
}
