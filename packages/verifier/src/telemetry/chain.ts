import { bytesEqual, fromBase64Url } from '@tmb/core';
import { GENESIS_HEAD, nextHead, telemetryBatchBytes } from '@tmb/core/telemetry';
import type { JsonValue, Sample } from '@tmb/stats';
import { VerifierError } from '../errors.ts';
import type { ChainState } from './store.ts';

/** The chain head before any batch: 32 zero bytes (docs/telemetry.md; core's GENESIS_HEAD). */
export const GENESIS: Uint8Array = GENESIS_HEAD;

/** One pushed batch, checked for shape. */
export interface PushedBatch {
  seq: number;
  prevHead: Uint8Array;
  head: Uint8Array;
  gpu: Sample[];
  proc: JsonValue[];
}

/**
 * The head after a pushed batch, recomputed from the parsed batch by core's chain
 * (`@tmb/core/telemetry`, docs/telemetry.md): RFC 8785 canonical JSON of {"v": 1, "seq", "gpu",
 * "proc"} re-derives the agent's bytes from the same values.
 */
export function batchHead(prev: Uint8Array, b: Omit<PushedBatch, 'prevHead' | 'head'>): Uint8Array {
  return nextHead(prev, telemetryBatchBytes({ v: 1, seq: b.seq, gpu: b.gpu, proc: b.proc }));
}

/** What checking a push against the agent's chain gives: batches to store, the new state. */
export interface ChainOutcome {
  accept: (PushedBatch & { chain: number })[];
  duplicate: number;
  state: ChainState;
}

/**
 * Checks pushed batches, in order, against the agent's chain. A batch with seq 0 and the
 * genesis prevHead starts a new chain (the agent restarted); a batch already received with the
 * same head is a duplicate (a re-push after a lost answer); anything else must continue the
 * chain exactly: the next seq, the stored head as prevHead, and a head that recomputes.
 * @throws VerifierError TELEMETRY_CHAIN_BROKEN (a dropped, reordered or forked batch: seq or
 *   prevHead does not continue the chain) | TELEMETRY_BATCH_TAMPERED (head does not recompute)
 */
export function checkChain(
  current: ChainState | undefined,
  batches: readonly PushedBatch[],
  storedHead: (chain: number, seq: number) => Uint8Array | undefined,
): ChainOutcome {
  let state: ChainState = current ?? { chain: 0, nextSeq: 0, head: GENESIS, restarts: 0 };
  const accept: ChainOutcome['accept'] = [];
  let duplicate = 0;
  let fresh = current === undefined;
  for (const [i, b] of batches.entries()) {
    const recomputed = batchHead(b.prevHead, b);
    if (!bytesEqual(recomputed, b.head))
      throw new VerifierError(
        'TELEMETRY_BATCH_TAMPERED',
        `batch ${i} (seq ${b.seq}): head does not recompute from its samples and prevHead`,
      );
    const known = b.seq < state.nextSeq ? storedHead(state.chain, b.seq) : undefined;
    const inPush = accept.find((a) => a.chain === state.chain && a.seq === b.seq);
    if ((known !== undefined && bytesEqual(known, b.head)) || (inPush && bytesEqual(inPush.head, b.head))) {
      duplicate++;
      continue;
    }
    if (b.seq === 0 && bytesEqual(b.prevHead, GENESIS)) {
      // A new chain: the agent restarted, or re-chained after a refusal.
      state = {
        chain: fresh ? state.chain : state.chain + 1,
        nextSeq: 0,
        head: GENESIS,
        restarts: fresh ? state.restarts : state.restarts + 1,
      };
      fresh = false;
    }
    if (b.seq !== state.nextSeq)
      throw new VerifierError(
        'TELEMETRY_CHAIN_BROKEN',
        `batch ${i}: seq ${b.seq} where ${state.nextSeq} was due (a batch was dropped or reordered)`,
      );
    if (!bytesEqual(b.prevHead, state.head))
      throw new VerifierError(
        'TELEMETRY_CHAIN_BROKEN',
        `batch ${i} (seq ${b.seq}): prevHead is not the head of the batch before it`,
      );
    fresh = false;
    accept.push({ ...b, chain: state.chain });
    state = { ...state, nextSeq: b.seq + 1, head: b.head };
  }
  return { accept, duplicate, state };
}

/** A 32-byte head from base64url, or BODY_MALFORMED. */
export function head32(v: unknown, what: string): Uint8Array {
  let h: Uint8Array | undefined;
  try {
    h = typeof v === 'string' ? fromBase64Url(v) : undefined;
  } catch {
    h = undefined;
  }
  if (h?.length !== 32) throw new VerifierError('BODY_MALFORMED', `${what} must be 32 bytes in base64url`);
  return h;
}
