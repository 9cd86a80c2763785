import { utf8 } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';

// The telemetry batch chain (docs/telemetry.md, "The batch chain"):
//   head_0 = 32 zero bytes
//   head_n = SHA-256("tmb-telemetry-batch-v1" || 0x00 || head_(n-1) || SHA-256(batch_n bytes))
// The head after the latest batch is what the agent enters in its checkpoints (`tmb-telemetry`
// line, line.ts), so a quoted checkpoint commits to every sample before it: dropping,
// reordering or editing a batch changes every later head.

/** The domain that starts every chain step: "tmb-telemetry-batch-v1" and a 0x00 byte. */
export const TELEMETRY_CHAIN_DOMAIN: Uint8Array = utf8('tmb-telemetry-batch-v1\0');

/** The chain head before any batch: 32 zero bytes. Do not modify. */
export const GENESIS_HEAD: Uint8Array = new Uint8Array(32);

/**
 * One chain step: the head after the batch whose bytes (telemetryBatchBytes) are `batch`,
 * following the head `previous`.
 */
export function nextHead(previous: Uint8Array, batch: Uint8Array): Uint8Array {
  return sha256(TELEMETRY_CHAIN_DOMAIN, previous, sha256(batch));
}

/** Folds batches (as bytes, in order) from `from` (default GENESIS_HEAD) into a head. */
export function chainHead(batches: readonly Uint8Array[], from: Uint8Array = GENESIS_HEAD): Uint8Array {
  let head = from;
  for (const b of batches) head = nextHead(head, b);
  return head;
}
