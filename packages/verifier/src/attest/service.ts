import type { Check } from '@tmb/core';
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
  ekCheck: Check;
  pcr: number;
  expires: number;
}

/** The verifier's attestation parts, shared by the /v1/attest endpoints and receipt reads. */
export interface AttestService {
  nonces: Nonces;
  trees: Trees;
  /** The host state each accepted quote established, per agent. */
  segments: Segments;
  /** Trusted EK CA certificates (PEM): TPM manufacturers' roots and intermediates, swtpm's CA in development. */
  roots: string[];
  pending: Map<string, PendingAk>;
  challengeTtlMs: number;
}

export function createAttestService(
  store: Store,
  o: { roots: string[]; nonceTtlMs: number; challengeTtlMs?: number },
): AttestService {
  return {
    nonces: new Nonces(o.nonceTtlMs),
    trees: new Trees(store),
    segments: new Segments(store),
    roots: o.roots,
    pending: new Map(),
    challengeTtlMs: o.challengeTtlMs ?? 60_000,
  };
}
