import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import type { HashName } from '../types.ts';
import type { PublicKey } from './keys.ts';

// TPM credential protection (makeCredential) is a verifier's job, done in Node
// (platform/node/seal.ts). A browser has the CSPRNG and HMAC; the rest throws.

const IMPL = { sha1, sha256, sha384, sha512 } as const;
const NONE = 'TPM credential protection runs in Node only (node:crypto)';

/** `n` random bytes from the platform's CSPRNG. */
export function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(i + 65536, n)));
  return out;
}

/** HMAC of the concatenation of `parts`. */
export function hmac(hash: HashName, key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nobleHmac.create(IMPL[hash], key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** @throws Error always: no RSA-OAEP in a browser here */
export function rsaOaepEncrypt(
  _key: PublicKey,
  _hash: HashName,
  _label: Uint8Array,
  _data: Uint8Array,
): Uint8Array {
  throw new Error(NONE);
}

/** @throws Error always: credential protection is Node's */
export function ecdhEphemeral(
  _curve: string,
  _peerX: Uint8Array,
  _peerY: Uint8Array,
): { z: Uint8Array; x: Uint8Array; y: Uint8Array } {
  throw new Error(NONE);
}

/** @throws Error always: credential protection is Node's */
export function aesCfbEncrypt(_key: Uint8Array, _data: Uint8Array): Uint8Array {
  throw new Error(NONE);
}
