import { type KeyObject, sign } from 'node:crypto';
import { ed25519NoteSigner, formatVerifierKey, type NoteSigner } from '@tmb/core/log';

/**
 * The note signer of checkpoints: the agent's Ed25519 receipt-signing key under the key name
 * `origin` (C2SP tlog-checkpoint: the log's key name SHOULD match the origin).
 */
export function checkpointSigner(
  origin: string,
  key: { privateKey: KeyObject; publicKey: Uint8Array },
): NoteSigner {
  return ed25519NoteSigner(origin, key.publicKey, (text) => new Uint8Array(sign(null, text, key.privateKey)));
}

/** The verifier key (`<origin>+<key ID>+<base64 key>`) a verifier configures for this log. */
export function checkpointVerifierKey(origin: string, publicKey: Uint8Array): string {
  return formatVerifierKey(origin, publicKey);
}
