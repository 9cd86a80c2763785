import type { ReceiptServed } from '@tmb/core';
import type { HostMeasurements } from '../measure/roles.ts';

const SHA256 = /^sha256:([0-9a-f]{64})$/;

/**
 * What every receipt of this start names as served (receipt v2 `served`, docs/receipt.md), from
 * what measureHost measured at start:
 *
 * - `weights`: the digest of the **first** weights path (`--weights`, in the order given), the
 *   same value a registry lists for the model (docs/registry.md): a GGUF file's SHA-256, or a
 *   directory's manifest digest. A model split over several files is one directory, so one digest
 *   names it; further weights paths (a draft model, adapters) stay in the measurement log, where
 *   `weights.allowed` judges every one of them.
 * - `engine`: the digest of the engine executable (`--engine-exe`).
 *
 * Each is lower-case hex without the `sha256:` prefix, or null when nothing of that role was
 * measured (no host spec, or no TPM and no spec). A later change of a measured file shows in the
 * log (a new entry, and `weights.allowed` fails the run), not in `served`, which stays the start's.
 */
export function servedDigests(measured: HostMeasurements | undefined): ReceiptServed {
  const first = (role: 'weights' | 'engine'): string | null => {
    const p = measured?.paths.find((x) => x.role === role);
    return p === undefined ? null : (SHA256.exec(p.digest)?.[1] ?? null);
  };
  return { weights: first('weights'), engine: first('engine') };
}
