import { type HostSegment, type HostSegments, recordSegment } from '@tmb/core/host';
import type { Store } from '../store/types.ts';
import { VersionedRows } from '../store/versioned.ts';

/** Row key of an agent's segments in the attestation table (agent names have no spaces). */
const rowKey = (agent: string) => `segments ${agent}`;

/**
 * Per agent, the host states accepted quotes established (docs/evidence.md, "Segments"),
 * kept in the store as one JSON row and cached in memory, re-validated against the row's version
 * on each read (store/versioned.ts: another verifier process may have recorded a quote), updated
 * by compare-and-set. A receipt is judged by the segment
 * of the first accepted quote whose checkpoint size is above its seq.
 */
export class Segments {
  readonly #rows: VersionedRows<HostSegments>;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(store: Store) {
    this.#rows = new VersionedRows<HostSegments>(store, () => ({ segments: [], dropped: 0 }));
  }

  /** The agent's segments (none yet: an empty list). */
  of(agent: string): Promise<HostSegments> {
    return this.#rows.get(rowKey(agent));
  }

  /** Records what an accepted quote established. Serialised, so two posts never fold from one base. */
  record(agent: string, seg: HostSegment): Promise<void> {
    const run = this.#chain.then(async () => {
      await this.#rows.update(rowKey(agent), (s) => recordSegment(s, seg));
    });
    this.#chain = run.catch(() => {});
    return run;
  }
}
