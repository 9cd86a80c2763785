import { agentKeyId, ed25519Verify, enrolMessage } from '@tmb/core';
import { VerifierError } from '../errors.ts';
import { type AgentLock, receiptLockKey } from '../lock.ts';
import type { ReceiptSession, Store } from '../store/types.ts';

/** What a receipt-key enrolment needs of the verifier. */
export interface KeyEnrolment {
  store: Store;
  /** The per-agent lock (lock.ts), taken on receiptLockKey: a push deciding log positions sees the enrolment order as it is. */
  lock: AgentLock;
  /** The clock, Unix ms. */
  now: () => number;
}

/**
 * Enrols `key` (raw Ed25519, 32 bytes) as a receipt-signing key of `agent` (the caller checked
 * its token) once `proof` is its signature of the enrolment message (core enrolMessage). Enrolling
 * the same key again for the same agent is a no-op. Returns the key id.
 * @throws VerifierError ENROL_PROOF_INVALID | ENROL_KEY_CONFLICT
 */
export async function enrolAgentKey(
  d: KeyEnrolment,
  agent: string,
  key: Uint8Array,
  proof: Uint8Array,
): Promise<string> {
  if (!ed25519Verify(key, enrolMessage(agent, key), proof)) {
    throw new VerifierError(
      'ENROL_PROOF_INVALID',
      'proof is not a signature of the enrolment message by this key',
    );
  }
  const keyId = agentKeyId(key);
  // Under the agent's receipt lock (lock.ts, receiptLockKey): a push deciding which key holds
  // which log position sees the enrolment order as it is.
  await receiptLocked(d.lock, d.store, agent, async (s) => {
    const added = await s.addKey({ agent, keyId, key, enrolledAt: d.now() });
    if (!added) {
      const existing = await s.getKey(keyId);
      if (existing?.agent !== agent) {
        throw new VerifierError(
          'ENROL_KEY_CONFLICT',
          `key ${keyId.slice(0, 16)}… is enrolled for another agent`,
        );
      }
    }
  });
  return keyId;
}

/**
 * Runs `fn` alone for `agent`'s receipt log positions (lock.ts receiptLockKey), across
 * processes: where the store takes the lock in its own transaction (Store.receiptLocked,
 * PostgreSQL), under the lock's in-process part and that one transaction, `fn` reading and
 * writing on it (one transaction per push, not a lock transaction beside the store's); else
 * under `lock.run` with `fn` on the store itself (SQLite, one process).
 */
export function receiptLocked<T>(
  lock: AgentLock,
  store: Store,
  agent: string,
  fn: (s: ReceiptSession) => Promise<T>,
): Promise<T> {
  const key = receiptLockKey(agent);
  if (store.receiptLocked === undefined) return lock.run(key, () => fn(store));
  return (lock.local ?? lock).run(key, () => store.receiptLocked!(key, fn));
}
