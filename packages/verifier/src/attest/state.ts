import type { Check, VerdictTpm } from '@tmb/core';
import type { ImaState } from '@tmb/core/ima';
import type { LogRun } from '@tmb/core/log';
import { VerifierError } from '../errors.ts';
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
  /** The EK root's class, issuer and TPM vendor, from enrolment; absent in rows made before it was kept (read as unknown). */
  tpm?: VerdictTpm;
  /** The EK certificate the agent enrolled with (base64url DER), for offline bundles (docs/bundle.md). */
  ekCertificate?: string | null;
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
  /** The TPM-held checkpoint keys the AK certified, oldest first (at most MAX_CHECKPOINT_KEYS). Absent: none. */
  checkpointKeys?: CertifiedKey[];
  /**
   * Key ids (hex SHA-256 of the raw key) found in `tmb.agent-key` events covered by a quote.
   * Informational since issue 9: key.bound takes a certified TPM key, not a PCR event.
   */
  bound: string[];
  /** The subset of `bound` extended in the current boot (resetCount of `ima`). */
  boundBoot?: string[];
  /** The latest quoted checkpoint: note, size, base64 root, and the key id that signed it. */
  checkpoint: {
    note: string;
    size: number;
    root: string;
    keyId: string;
    /** TPM name (hex) of the certified checkpoint key that co-signed it (absent in older rows). */
    tpmKeyName?: string;
  } | null;
  /** The named checks of the evidence that quoted `checkpoint` (all pass). */
  checks: Check[];
  /** The quote over `checkpoint`, base64url, and its nonce (hex), for offline re-checking. */
  quote: { attest: string; signature: string; pcrs: string; nonce: string } | null;
  acceptedAt: number | null;
  /** The log run of `checkpoint` (docs/evidence.md, "Log runs and recovery"); absent: run 0, base 0. */
  run?: LogRun;
  /** The agent's log runs that ended, oldest first, the last MAX_ENDED_RUNS of them; absent: none. */
  endedRuns?: EndedRun[];
  /** The ended runs older than those in `endedRuns`, folded (foldEndedRuns); absent: none. */
  foldedRuns?: FoldedRuns;
}

/**
 * How many ended log runs an agent's state keeps in full (docs/evidence.md, "Log runs and
 * recovery"): an agent whose every run ends would otherwise grow its state (and the cold row
 * rewritten with each end) without bound. Older runs are folded into `foldedRuns`.
 */
export const MAX_ENDED_RUNS = 64;

/**
 * The ended runs folded out of `endedRuns`, oldest first: how many, the first and last run
 * numbers, and their seqs [base, end) (runs are contiguous, so one range). Which of those seqs a
 * quote covered is gone with them: a receipt there fails `receipt.included`
 * (RECEIPT_LOG_RUN_ENDED, "folded"), never passes.
 */
export interface FoldedRuns {
  runs: number;
  first: number;
  last: number;
  base: number;
  end: number;
}

/**
 * A log run of the agent that ended (a checkpoint of a later run was accepted): its seqs are
 * [base, end); the receipts below `covered` were covered by its last accepted checkpoint
 * (`checkpoint`, quoted by `quote`), the others never will be (RECEIPT_LOG_RUN_ENDED). `reason`
 * is the verifier's own record of why it ended.
 */
export interface EndedRun extends LogRun {
  end: number;
  covered: number;
  reason: string;
  endedAt: number;
  checkpoint: AgentAttest['checkpoint'];
  quote: AgentAttest['quote'];
}

/**
 * A checkpoint key the agent's AK certified (POST /v1/attest/checkpoint-key; docs/evidence.md,
 * "The checkpoint key"): TPM name (hex), TPM2B_PUBLIC (base64url), the receipt key id it was
 * certified for, when, the TPM resetCount of the certification, the AK that certified it, and
 * the certification itself for offline re-checking.
 */
export interface CertifiedKey {
  keyName: string;
  keyPublic: string;
  receiptKeyId: string;
  certifiedAt: number;
  resetCount: number;
  akName: string;
  certify: { attest: string; signature: string; nonce: string };
}

/**
 * Members of the state that change only at AK activation, checkpoint-key certification or the
 * end of a log run: kept in a row of their own (`cold <agent>`), written only when they change,
 * and then in the same statement as the agent's row; the agent's row holds the others (what each
 * quote changes) and `cold: 1`. Both rows are read in one statement, so a reader always sees the
 * two halves of one saved state.
 */
const COLD = new Set([
  'ekPublic',
  'ekCheck',
  'tpm',
  'ekCertificate',
  'akPublic',
  'akName',
  'activatedAt',
  'pcr',
  'checkpointKeys',
  'endedRuns',
  'foldedRuns',
]);

const coldKey = (agent: string) => `cold ${agent}`;

/**
 * The state with at most `max` ended runs kept in full (the newest), the older ones folded into
 * `foldedRuns` with those folded before; the state itself when there is nothing to fold.
 */
export function foldEndedRuns(state: AgentAttest, max = MAX_ENDED_RUNS): AgentAttest {
  const ended = state.endedRuns ?? [];
  if (ended.length <= max) return state;
  const cut = ended.length - max;
  const prev = state.foldedRuns;
  const folded: FoldedRuns = prev
    ? { ...prev }
    : { runs: 0, first: ended[0]!.run, last: 0, base: ended[0]!.base, end: 0 };
  for (const e of ended.slice(0, cut)) {
    folded.runs += 1;
    folded.first = Math.min(folded.first, e.run);
    folded.last = Math.max(folded.last, e.run);
    folded.base = Math.min(folded.base, e.base);
    folded.end = Math.max(folded.end, e.end);
  }
  return { ...state, endedRuns: ended.slice(cut), foldedRuns: folded };
}

/** Per loaded state: its cold members as read (to tell whether a save changed them). */
const loadedCold = new WeakMap<AgentAttest, unknown[]>();

/**
 * The agent's state, or undefined when it enrolled no AK. A row saved whole (before the cold
 * members had a row of their own) reads as it was written. Ended runs past MAX_ENDED_RUNS (a
 * state written before the cap) read folded, and the next save writes them so.
 * @throws VerifierError STORE_FAILED when the agent's row names a cold row that is not there
 */
export async function loadAttest(
  store: Pick<Store, 'getAttestRows'>,
  agent: string,
): Promise<AgentAttest | undefined> {
  const [text, coldText] = await store.getAttestRows([agent, coldKey(agent)]);
  if (text === undefined) return undefined;
  const { cold, ...hot } = JSON.parse(text) as AgentAttest & { cold?: number };
  if (cold === undefined) return foldEndedRuns(hot);
  if (coldText === undefined)
    throw new VerifierError(
      'STORE_FAILED',
      `the attestation state of ${JSON.stringify(agent)} lacks its cold row`,
    );
  const read = { ...(JSON.parse(coldText) as Partial<AgentAttest>), ...hot } as AgentAttest;
  // Parts as read: a state folded here differs from its cold row, which its next save rewrites.
  const state = foldEndedRuns(read);
  loadedCold.set(state, coldParts(read));
  return state;
}

/**
 * Saves the agent's state: its row alone when the cold members are those of `loaded` (the state
 * this one was made from, read under the agent's lock: the cold row is still theirs), else both
 * rows in one statement. Run under the agent's lock (lock.ts), as every load-change-save is.
 * Ended runs past MAX_ENDED_RUNS are folded first.
 */
export async function saveAttest(
  store: Store,
  agent: string,
  unfolded: AgentAttest,
  loaded?: AgentAttest,
): Promise<void> {
  const state = foldEndedRuns(unfolded);
  const before = loaded === undefined ? undefined : loadedCold.get(loaded);
  const hot: Record<string, unknown> = { cold: 1 };
  for (const [k, v] of Object.entries(state)) if (!COLD.has(k)) hot[k] = v;
  const unchanged = before !== undefined && coldParts(state).every((p, i) => p === before[i]);
  if (unchanged) return store.putAttest(agent, JSON.stringify(hot));
  const cold: Record<string, unknown> = {};
  for (const k of COLD) {
    const v = (state as unknown as Record<string, unknown>)[k];
    if (v !== undefined) cold[k] = v;
  }
  await store.putAttestRows([
    [agent, JSON.stringify(hot)],
    [coldKey(agent), JSON.stringify(cold)],
  ]);
}

/** The cold members' values, in COLD's order (compared by identity: unchanged ones are shared). */
function coldParts(state: AgentAttest): unknown[] {
  return [...COLD].map((k) => (state as unknown as Record<string, unknown>)[k]);
}
