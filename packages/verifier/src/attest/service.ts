import type { Check, VerdictTpm } from '@tmb/core';
import { BundleArchive } from '../bundle/archive.ts';
import { KeyedLock } from '../lock.ts';
import type { Store } from '../store/types.ts';
import { Nonces } from './nonces.ts';
import { Segments } from './segments.ts';
import { Trees } from './trees.ts';

/** An AK enrolment waiting for its ActivateCredential answer (memory only; expires). */
export interface PendingAk {
  secret: Uint8Array;
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
  pending: Map<string, PendingAk>;
  challengeTtlMs: number;
  /** The clock, Unix ms (VerifierOptions.now). */
  now: () => number;
  /** How long after its end a receipt of an agent with an AK may stay uncovered by a quote
   * before `receipt.included` fails RECEIPT_NOT_INCLUDED, and a receipt of an agent with no
   * activated AK keeps its L1 checks pending before they are skipped
   * (VerifierOptions.inclusionDeadlineMs). */
  inclusionDeadlineMs: number;
  /** Per agent name: held around every load-appraise-save of the agent's state (evidence, AK
   * activation, checkpoint key, key enrolment, receipt push), so no update is lost. Telemetry
   * ingest needs none: its load-check-append is synchronous (node:sqlite), with no await between. */
  lock: KeyedLock;
}

export function createAttestService(
  store: Store,
  o: {
    roots: string[];
    nonceTtlMs: number;
    challengeTtlMs?: number;
    now?: () => number;
    inclusionDeadlineMs?: number;
  },
): AttestService {
  return {
    nonces: new Nonces(o.nonceTtlMs),
    trees: new Trees(store),
    segments: new Segments(store),
    bundles: new BundleArchive(store),
    roots: o.roots,
    pending: new Map(),
    challengeTtlMs: o.challengeTtlMs ?? 60_000,
    now: o.now ?? Date.now,
    inclusionDeadlineMs: o.inclusionDeadlineMs ?? 10_000,
    lock: new KeyedLock(),
  };
}
