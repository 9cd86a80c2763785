import { type KeyObject, sign } from 'node:crypto';
import { agentKeyId } from '@tmb/core';
import { ed25519NoteSigner, formatVerifierKey, type NoteSigner } from '@tmb/core/log';

/**
 * The in-memory note signer of checkpoints: the agent's Ed25519 receipt-signing key under the
 * key name `origin` (C2SP tlog-checkpoint: the log's key name SHOULD match the origin), with the
 * key id receipts name (`receiptKeyId`, core agentKeyId), which the TPM checkpoint key's
 * certification binds. With a TPM the attester adds a second signature by the TPM-held key
 * (attest/certify.ts); that one is what `key.bound` checks (docs/evidence.md, "The checkpoint key").
 */
export function checkpointSigner(
  origin: string,
  key: { privateKey: KeyObject; publicKey: Uint8Array },
): NoteSigner & { receiptKeyId: string } {
  return {
    ...ed25519NoteSigner(origin, key.publicKey, (text) => new Uint8Array(sign(null, text, key.privateKey))),
    receiptKeyId: agentKeyId(key.publicKey),
  };
}

/** The verifier key (`<origin>+<key ID>+<base64 key>`) a verifier configures for this log. */
export function checkpointVerifierKey(origin: string, publicKey: Uint8Array): string {
  return formatVerifierKey(origin, publicKey);
}
