import {
  constants,
  createCipheriv,
  createECDH,
  createHmac,
  type KeyObject,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import type { HashName } from '../types.ts';

// The primitives of TPM credential protection (makeCredential): random seeds, RSA-OAEP,
// ephemeral ECDH, AES-CFB and HMAC. node:crypto today; a browser build swaps this file.

/** `n` random bytes from the platform's CSPRNG. */
export function random(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/** HMAC of the concatenation of `parts`. */
export function hmac(hash: HashName, key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** RSA-OAEP encryption with `hash` for both OAEP and MGF1, and a label (bytes, as given). */
export function rsaOaepEncrypt(
  key: KeyObject,
  hash: HashName,
  label: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  return new Uint8Array(
    publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: label }, data),
  );
}

/**
 * A fresh ephemeral key on `curve` (Node curve name) and the x-coordinate of the shared point
 * with the peer's uncompressed point (x, y): Z of SP 800-56A ECDH.
 */
export function ecdhEphemeral(
  curve: string,
  peerX: Uint8Array,
  peerY: Uint8Array,
): { z: Uint8Array; x: Uint8Array; y: Uint8Array } {
  const ecdh = createECDH(curve);
  const pub = ecdh.generateKeys();
  const size = peerX.length;
  const peer = Buffer.concat([Buffer.from([4]), peerX, peerY]);
  const z = ecdh.computeSecret(peer);
  return {
    z: new Uint8Array(z),
    x: new Uint8Array(pub.subarray(1, 1 + size)),
    y: new Uint8Array(pub.subarray(1 + size)),
  };
}

/** AES-CFB (128-bit feedback, as the TPM's CFB mode) with a zero IV, as credential protection uses. */
export function aesCfbEncrypt(key: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createCipheriv(`aes-${key.length * 8}-cfb`, key, new Uint8Array(16));
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}
