import { type HostSegment, type HostSegments, recordSegment } from '@tmb/core/host';
import type { Store } from '../store/types.ts';

/** Row key of an agent's segments in the attestation table (agent names have no spaces). */
const rowKey = (agent: string) => `segments ${agent}`;

/**
 * Per agent, the host states accepted quotes established (docs/evidence.md, "Segments"),
 * kept in the store as one JSON row and cached in memory. A receipt is judged by the segment
 * of the first accepted quote whose checkpoint size is above its seq.
 */
export class Segments {
  readonly #store: Store;
  readonly #cache = new Map<string, HostSegments>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(store: Store) {
    this.#store = store;
  }

  /** The agent's segments (none yet: an empty list). */
  async of(agent: string): Promise<HostSegments> {
    const cached = this.#cache.get(agent);
    if (cached) return cached;
    const text = await this.#store.getAttest(rowKey(agent));
    const s: HostSegments =
      text === undefined ? { segments: [], dropped: 0 } : (JSON.parse(text) as HostSegments);
    this.#cache.set(agent, s);
    return s;
  }

  /** Records what an accepted quote established. Serialised, so two posts never fold from one base. */
  record(agent: string, seg: HostSegment): Promise<void> {
    const run = this.#chain.then(async () => {
      const next = recordSegment(await this.of(agent), seg);
      await this.#store.putAttest(rowKey(agent), JSON.stringify(next));
      this.#cache.set(agent, next);
    });
    this.#chain = run.catch(() => {});
    return run;
  }
}
