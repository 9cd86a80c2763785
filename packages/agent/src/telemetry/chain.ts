import { sha256 } from '@tmb/core';
import { canonicalBytes } from '@tmb/stats';
import type { GpuSample, ProcSample } from './sample.ts';

/** A batch of samples as pushed to the verifier. Version 1; a change bumps `v`. */
export interface SampleBatch {
  v: 1;
  /** 0 for the first batch since the agent started, then +1 per batch. */
  seq: number;
  gpu: GpuSample[];
  proc: ProcSample[];
}

/** The chain head before any batch: 32 zero bytes. */
export const GENESIS_HEAD = new Uint8Array(32);

const DOMAIN = new TextEncoder().encode('tmb-telemetry-batch-v1\0');

/**
 * Bytes of a batch: RFC 8785 canonical JSON (sorted keys, ECMAScript number form; floats
 * allowed), so the verifier re-derives the same bytes from the parsed batch.
 */
export function batchBytes(batch: SampleBatch): Uint8Array {
  return canonicalBytes(batch);
}

/**
 * The next chain head: SHA-256("tmb-telemetry-batch-v1\0" || previous head || SHA-256(batch bytes)).
 * The head after the latest batch is what the agent enters in its receipt log, so a quoted
 * checkpoint commits to every sample before it; dropping, reordering or editing a batch
 * changes every later head.
 */
export function nextHead(previous: Uint8Array, batch: Uint8Array): Uint8Array {
  return sha256(DOMAIN, previous, sha256(batch));
}

/** Folds batches (as bytes, in order) from `from` (default GENESIS_HEAD) into a head. */
export function chainHead(batches: readonly Uint8Array[], from: Uint8Array = GENESIS_HEAD): Uint8Array {
  let head = from;
  for (const b of batches) head = nextHead(head, b);
  return head;
}

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
    const bytes = batchBytes(batch);
    this.head = nextHead(this.head, bytes);
    this.seq++;
    this.#gpu = [];
    this.#proc = [];
    return { batch, bytes, head: this.head };
  }
}
