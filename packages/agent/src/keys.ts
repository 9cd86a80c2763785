import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { agentKeyId, concat, ed25519Raw, utf8 } from '@tmb/core';

/** The per-start receipt-signing key: generated in memory, never written to disk. */
export interface AgentKey {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  keyId: string;
  /** Proof of possession for enrolment (docs/api.md): signature over ENROL_PREFIX ‖ name ‖ LF ‖ key. */
  proof: Uint8Array;
}

/** What an enrolment proof signs, so a verifier can check the agent holds the key it enrols. */
export function enrolMessage(name: string, publicKey: Uint8Array): Uint8Array {
  return concat(utf8('tmb.enroll.v1\n'), utf8(name), utf8('\n'), publicKey);
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
