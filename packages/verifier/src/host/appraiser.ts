import type { Check, ReceiptBody } from '@tmb/core';
import { type ImaEntry, parseBinaryLog } from '@tmb/core/ima';
import type { Store } from '../store/types.ts';
import { type AgentHost, appraiseHostEvidence, type HostReferences } from './checks.ts';
import { emptyLedger, foldEntries } from './ledger.ts';

/**
 * Key under which an agent's host ledgers are kept in the store's attestation table. Agent
 * names have no spaces (docs/api.md), so no agent's own row can collide with it.
 */
const rowKey = (agent: string) => `host ${agent}`;

/**
 * The verifier's memory of what each agent's host measured (docs/registry.md): per agent, a
 * ledger fed from TPM-quoted measurement-log entries and one from logs the agent only posted,
 * each holding per agent start (signing key) the weights, engine and agent-build digests.
 * Kept in the store (one JSON row per agent) and cached in memory.
 */
export class HostAppraiser {
  readonly refs: HostReferences;
  readonly #store: Store;
  readonly #cache = new Map<string, AgentHost>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(store: Store, refs: HostReferences) {
    this.#store = store;
    this.refs = refs;
  }

  /** Whether any reference values are loaded (else receipts get no host checks). */
  get active(): boolean {
    return this.refs.registry !== null || this.refs.policy !== null;
  }

  /**
   * Folds entries a TPM quote covered (advanceIma's `accepted`, or every entry of a log whose
   * replay matched the quoted PCR) into the agent's quoted ledger. `resetCount` is the quote's:
   * a new one (a reboot) starts the log over. Entries already folded are skipped.
   */
  recordQuoted(agent: string, entries: readonly ImaEntry[], resetCount: number): Promise<void> {
    return this.#update(agent, (h) => ({
      ...h,
      quoted: foldEntries(h.quoted ?? emptyLedger(resetCount), entries, {
        resetCount,
        policy: this.refs.policy,
      }),
    }));
  }

  /**
   * The hook for quoted evidence as posted: `log` is the binary measurement log from index
   * `from` on; the entries below `nextIndex` (the incremental state's next index after the
   * quote was accepted) are the ones the quote covers.
   * @throws ImaParseError when the bytes are not a log (the caller has replayed them already)
   */
  recordQuotedLog(
    agent: string,
    log: Uint8Array,
    from: number,
    nextIndex: number,
    resetCount: number,
  ): Promise<void> {
    const entries = parseBinaryLog(log, { firstIndex: from }).filter((e) => e.index < nextIndex);
    return this.recordQuoted(agent, entries, resetCount);
  }

  /** Replaces the agent's asserted ledger with the fold of a whole log it posted (no TPM behind it). */
  recordAsserted(agent: string, entries: readonly ImaEntry[]): Promise<void> {
    return this.#update(agent, (h) => ({
      ...h,
      asserted: foldEntries(emptyLedger(), entries, { policy: this.refs.policy }),
    }));
  }

  /** The host checks for receipts of `agent` (docs/result.md); [] for every receipt when inactive. */
  async view(agent: string): Promise<(body: ReceiptBody) => Check[]> {
    if (!this.active) return () => [];
    const host = await this.#load(agent);
    return (body) => (body.agent === agent ? appraiseHostEvidence(host, body, this.refs) : []);
  }

  async #load(agent: string): Promise<AgentHost> {
    const cached = this.#cache.get(agent);
    if (cached) return cached;
    const text = await this.#store.getAttest(rowKey(agent));
    const host: AgentHost =
      text === undefined ? { quoted: null, asserted: null } : (JSON.parse(text) as AgentHost);
    this.#cache.set(agent, host);
    return host;
  }

  /** Updates are serialised, so two evidence posts of one agent never fold from the same base. */
  #update(agent: string, f: (h: AgentHost) => AgentHost): Promise<void> {
    const run = this.#chain.then(async () => {
      const next = f(await this.#load(agent));
      await this.#store.putAttest(rowKey(agent), JSON.stringify(next));
      this.#cache.set(agent, next);
    });
    this.#chain = run.catch(() => {});
    return run;
  }
}
