import { digest, HASH_SIZE, type HashName } from '../crypto/hash.ts';
import { hmac } from '../crypto/seal.ts';

const enc = new TextEncoder();

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

/** A label as the TPM uses it: its ASCII bytes and a terminating zero byte (Part 1, 11.4.10.1). */
export function label(text: string): Uint8Array {
  return new Uint8Array([...enc.encode(text), 0]);
}

/**
 * KDFa (TPM 2.0 Part 1, 11.4.10.2; SP 800-108 counter mode with HMAC): for i = 1, 2, ...
 * HMAC_hash(key, [i]32 || label\0 || contextU || contextV || [bits]32), concatenated and cut to
 * `bits` (a multiple of 8 here).
 */
export function kdfa(
  hash: HashName,
  key: Uint8Array,
  use: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Uint8Array {
  const bytes = bits / 8;
  const out = new Uint8Array(Math.ceil(bytes / HASH_SIZE[hash]) * HASH_SIZE[hash]);
  for (let i = 1, at = 0; at < bytes; i++, at += HASH_SIZE[hash])
    out.set(hmac(hash, key, u32(i), label(use), contextU, contextV, u32(bits)), at);
  return out.subarray(0, bytes);
}

/**
 * KDFe (Part 1, 11.4.10.3; SP 800-56A concatenation KDF): for i = 1, 2, ...
 * H([i]32 || Z || label\0 || partyUInfo || partyVInfo), concatenated and cut to `bits`.
 */
export function kdfe(
  hash: HashName,
  z: Uint8Array,
  use: string,
  partyU: Uint8Array,
  partyV: Uint8Array,
  bits: number,
): Uint8Array {
  const bytes = bits / 8;
  const out = new Uint8Array(Math.ceil(bytes / HASH_SIZE[hash]) * HASH_SIZE[hash]);
  for (let i = 1, at = 0; at < bytes; i++, at += HASH_SIZE[hash])
    out.set(digest(hash, u32(i), z, label(use), partyU, partyV), at);
  return out.subarray(0, bytes);
}
