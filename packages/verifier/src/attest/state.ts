import type { Check } from '@tmb/core';
import type { ImaState } from '@tmb/core/ima';
import type { Store } from '../store/types.ts';
import type { KernelBoot } from './kernel.ts';

/**
 * What the verifier keeps per agent about its TPM (table attest_agents, JSON). Change rule:
 * a new member gets a default when absent; renaming one needs a migration of stored rows.
 */
export interface AgentAttest {
  /** base64url TPM2B_PUBLIC of the EK, and the host.ek_certificate check made at enrolment. */
  ekPublic: string;
  ekCheck: Check;
  /** The activated AK: base64url TPM2B_PUBLIC, hex name (computed here), when activated. */
  akPublic: string;
  akName: string;
  activatedAt: number;
  /** The application PCR the agent binds its keys into (8..15). */
  pcr: number;
  /** TPMS_CLOCK_INFO of the last accepted quote (clock as a decimal string). */
  clock: { clock: string; resetCount: number; restartCount: number; safe: boolean } | null;
  /** Incremental replay of the agent's measurement log (core/ima). */
  ima: ImaState | null;
  /** The current boot's kernel IMA replay (PCR 10), its facts and boot log appraisal; null without a kernel log. */
  kernel?: KernelBoot | null;
  /** Key ids (hex SHA-256 of the raw key) found in `tmb.agent-key` events covered by a quote. */
  bound: string[];
  /** The subset of `bound` extended in the current boot (resetCount of `ima`). */
  boundBoot?: string[];
  /** The latest quoted checkpoint: note, size, base64 root, and the key id that signed it. */
  checkpoint: { note: string; size: number; root: string; keyId: string } | null;
  /** The named checks of the evidence that quoted `checkpoint` (all pass). */
  checks: Check[];
  /** The quote over `checkpoint`, base64url, and its nonce (hex), for offline re-checking. */
  quote: { attest: string; signature: string; pcrs: string; nonce: string } | null;
  acceptedAt: number | null;
}

/** The agent's state, or undefined when it enrolled no AK. */
export async function loadAttest(store: Store, agent: string): Promise<AgentAttest | undefined> {
  const text = await store.getAttest(agent);
  return text === undefined ? undefined : (JSON.parse(text) as AgentAttest);
}

export function saveAttest(store: Store, agent: string, state: AgentAttest): Promise<void> {
  return store.putAttest(agent, JSON.stringify(state));
}
