import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { agentKeyId, ed25519Raw, enrolMessage } from '@tmb/core';

/** The per-start receipt-signing key: generated in memory, never written to disk. */
export interface AgentKey {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  keyId: string;
  /** Proof of possession for enrolment (docs/api.md): signature over core's enrolMessage(name, key). */
  proof: Uint8Array;
}

/** Generates this start's Ed25519 key and its enrolment proof. */
export function generateAgentKey(name: string): AgentKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = ed25519Raw(publicKey);
  return {
    privateKey,
    publicKey: raw,
    keyId: agentKeyId(raw),
    proof: new Uint8Array(sign(null, enrolMessage(name, raw), privateKey)),
  };
}
