import type { Check, VerdictTpm } from '@tmb/core';
import { BundleArchive } from '../bundle/archive.ts';
import { type AgentLock, KeyedLock } from '../lock.ts';
import type { Store } from '../store/types.ts';
import { Nonces } from './nonces.ts';
import { PendingAks } from './pending.ts';
import { Segments } from './segments.ts';
import { Trees } from './trees.ts';

/** An AK enrolment waiting for its ActivateCredential answer (kept in the store: pending.ts; expires). */
export interface PendingAk {
  /** SHA-256 of the secret MakeCredential sealed: the store never holds the secret itself, so
   * whoever reads the database (a backup, a replica) cannot answer the challenge without the TPM. */
  secretSha256: Uint8Array;
  ekPublic: Uint8Array;
  akPublic: Uint8Array;
  akName: Uint8Array;
  /** The EK certificate as sent (base64url DER), kept for offline bundles; null: none sent. */
  ekCertificate?: string | null;
  ekCheck: Check;
  /** The EK root's class, issuer and TPM vendor (docs/tpm-roots.md). */
  tpm: VerdictTpm;
  pcr: number;
  expires: number;
}

/** The verifier's attestation parts, shared by the /v1/attest endpoints and receipt reads. */
export interface AttestService {
  nonces: Nonces;
  trees: Trees;
  /** The host state each accepted quote established, per agent. */
  segments: Segments;
  /** What each accepted quote adds to the offline bundles of the receipts it covers (docs/bundle.md). */
  bundles: BundleArchive;
  /** Trusted EK CA certificates (PEM): TPM manufacturers' roots and intermediates, swtpm's CA in development. */
  roots: string[];
  /** AK enrolments waiting for activation, in the store (any process may get the answer). */
  pending: PendingAks;
  challengeTtlMs: number;
  /** The clock, Unix ms (VerifierOptions.now). */
  now: () => number;
  /** How long after its end a receipt of an agent with an AK may stay uncovered by a quote
   * before `receipt.included` fails RECEIPT_NOT_INCLUDED, and a receipt of an agent with no
   * activated AK keeps its L1 checks pending before they are skipped
   * (VerifierOptions.inclusionDeadlineMs). */
  inclusionDeadlineMs: number;
  /** Per agent name: held around every load-appraise-save of the agent's state (evidence, AK
   * activation, checkpoint key), so no update is lost; receipt pushes and key enrolments take it
   * on receiptLockKey(agent) instead (lock.ts: they never wait for an appraisal). Telemetry
   * ingest needs none: its append is a compare-and-set on the agent's chain (telemetry/ingest.ts). */
  lock: AgentLock;
}

export function createAttestService(
  store: Store,
  o: {
    roots: string[];
    nonceTtlMs: number;
    challengeTtlMs?: number;
    now?: () => number;
    inclusionDeadlineMs?: number;
    /** The per-agent lock (store/open.ts: across processes on PostgreSQL). Default: a KeyedLock. */
    lock?: AgentLock;
  },
): AttestService {
  const now = o.now ?? Date.now;
  return {
    nonces: new Nonces(store, o.nonceTtlMs),
    trees: new Trees(store),
    segments: new Segments(store),
    bundles: new BundleArchive(store),
    roots: o.roots,
    pending: new PendingAks(store, now),
    challengeTtlMs: o.challengeTtlMs ?? 60_000,
    now,
    inclusionDeadlineMs: o.inclusionDeadlineMs ?? 10_000,
    lock: o.lock ?? new KeyedLock(),
  };
}
