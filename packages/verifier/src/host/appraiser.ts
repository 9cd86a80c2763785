import type { Check, ReceiptBody } from '@tmb/core';
import { type ImaEntry, parseBinaryLog } from '@tmb/core/ima';
import type { Store } from '../store/types.ts';
import { VersionedRows } from '../store/versioned.ts';
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
 * Kept in the store (one JSON row per agent) and cached in memory, bounded, and re-validated
 * against the row's version on each read (store/versioned.ts): a ledger another verifier process
 * updated is read again, never judged from the stale copy, and updates are compare-and-set.
 */
export class HostAppraiser {
  readonly refs: HostReferences;
  readonly #rows: VersionedRows<AgentHost>;
  #chain: Promise<unknown> = Promise.resolve();

  /** `cap`: agents whose ledgers are held in memory (default 10,000; the rest are read again). */
  constructor(store: Store, refs: HostReferences, cap?: number) {
    this.#rows = new VersionedRows<AgentHost>(store, () => ({ quoted: null, asserted: null }), cap);
    this.refs = refs;
  }

  /** Agents whose ledgers are held in memory now (at most the cap). */
  get held(): number {
    return this.#rows.held;
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
    const host = await this.#rows.get(rowKey(agent));
    return (body) => (body.agent === agent ? appraiseHostEvidence(host, body, this.refs) : []);
  }

  /** Updates are serialised in this process, and compare-and-set across processes (VersionedRows),
   * so two evidence posts of one agent never fold from the same base. */
  #update(agent: string, f: (h: AgentHost) => AgentHost): Promise<void> {
    const run = this.#chain.then(async () => {
      await this.#rows.update(rowKey(agent), f);
    });
    this.#chain = run.catch(() => {});
    return run;
  }
}
