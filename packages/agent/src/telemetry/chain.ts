import { GENESIS_HEAD, nextHead, type TelemetryBatch, telemetryBatchBytes } from '@tmb/core/telemetry';
import type { GpuSample, ProcSample } from './sample.ts';

// The batch format and the chain are core's (`@tmb/core/telemetry`, docs/telemetry.md); these
// re-exports keep the names this package has always exported.
export { chainHead, GENESIS_HEAD, nextHead, telemetryBatchBytes as batchBytes } from '@tmb/core/telemetry';

/** A batch of the agent's samples as pushed to the verifier (core's TelemetryBatch, version 1). */
export type SampleBatch = TelemetryBatch<GpuSample, ProcSample>;

/**
 * Builds the batch chain on the agent side: add samples as they arrive, `cut()` a batch when
 * the push loop wants one. Pure state; the caller decides when to cut (by count or time).
 */
export class BatchChain {
  head: Uint8Array = GENESIS_HEAD;
  seq = 0;
  #gpu: GpuSample[] = [];
  #proc: ProcSample[] = [];

  /** Samples waiting for the next batch. */
  get pending(): number {
    return this.#gpu.length + this.#proc.length;
  }

  addGpu(s: GpuSample): void {
    this.#gpu.push(s);
  }

  addProc(s: ProcSample): void {
    this.#proc.push(s);
  }

  /** Closes the pending samples into a batch, advances the head; undefined when nothing is pending. */
  cut(): { batch: SampleBatch; bytes: Uint8Array; head: Uint8Array } | undefined {
    if (this.pending === 0) return undefined;
    const batch: SampleBatch = { v: 1, seq: this.seq, gpu: this.#gpu, proc: this.#proc };
    const bytes = telemetryBatchBytes(batch);
    this.head = nextHead(this.head, bytes);
    this.seq++;
    this.#gpu = [];
    this.#proc = [];
    return { batch, bytes, head: this.head };
  }
}
