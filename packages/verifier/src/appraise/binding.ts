import { createHash } from 'node:crypto';
import { type CanonicalValue, canonicalBytes, fromBase64Url } from '@tmb/core';
import { loadAttest } from '../attest/state.ts';
import type { ResultBinding } from '../ear.ts';
import type { KeyRecord, StoredReceipt } from '../store/types.ts';
import type { L1Result, L1Store } from './l1.ts';

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * What the signed result binds besides the verdict: every unsigned member of a receipt answer
 * a client uses (docs/result.md, "Bound members"): the stored body's digest, the agent key and
 * its enrolment, the attestation's digest and the agent's activated AK.
 */
export async function resultBinding(
  store: L1Store,
  stored: StoredReceipt,
  key: KeyRecord | undefined,
  agentKey: string | null,
  l1: L1Result,
): Promise<ResultBinding> {
  // l1Checks read the agent's attest state already (noAk: it has none).
  // (A second read for TPM agents: l1Checks does not return the state it read.)
  const attest = l1.noAk ? undefined : await loadAttest(store, stored.agent);
  return {
    receiptSha256: hex(stored.body),
    agentKey,
    enrolment: key ? { agent: key.agent, keyId: key.keyId, enrolledAt: key.enrolledAt } : null,
    attestationSha256: l1.attestation ? attestationSha256(l1.attestation) : null,
    ak:
      attest?.akName && attest.ekPublic
        ? {
            name: attest.akName,
            activatedAt: attest.activatedAt,
            ekPublicSha256: hex(fromBase64Url(attest.ekPublic)),
          }
        : null,
  };
}

/**
 * Hex SHA-256 of the canonical JSON of an answer's attestation, as the client parses it from the
 * JSON answer (members left undefined are not sent); null when it is not canonical JSON (a
 * non-integer number): the client then fails verifier.binding rather than this read failing.
 */
function attestationSha256(a: object): string | null {
  try {
    return hex(canonicalBytes(JSON.parse(JSON.stringify(a)) as CanonicalValue));
  } catch {
    return null;
  }
}
