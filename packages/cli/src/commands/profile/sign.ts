import { createPublicKey, type KeyObject, sign } from 'node:crypto';
import { ed25519Raw, ed25519Verify, fromBase64, toBase64 } from '@tmb/core';
import { profileSigningMessage } from '@tmb/core/profile';
import { type Profile, parseProfile, StatsError } from '@tmb/stats';

// Signed profile files (docs/profile.md): Ed25519 over a domain prefix and the profile's canonical bytes.

/** A signed profile file (docs/profile.md). */
export interface SignedProfile {
  profile: Profile;
  publicKey: string;
  signature: string;
}

/** Signs a profile with an Ed25519 private key. */
export function signProfile(p: Profile, key: KeyObject): SignedProfile {
  const pub = ed25519Raw(createPublicKey(key));
  return {
    profile: p,
    publicKey: toBase64(pub),
    signature: toBase64(new Uint8Array(sign(null, profileSigningMessage(p), key))),
  };
}

/**
 * Reads and checks a signed profile: its shape, its signature over the canonical bytes of the
 * parsed profile, and, if given, that the signer is `trustedKey` (base64 raw key).
 * @throws UsageError for an unreadable file; StatsError PROFILE_MALFORMED for a bad shape
 */
export function verifySignedProfile(
  text: string,
  trustedKey?: string,
): { ok: boolean; profile: Profile; why?: string } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    throw new StatsError('PROFILE_MALFORMED', 'the signed profile is not JSON');
  }
  const profile = parseProfile(o.profile);
  if (typeof o.publicKey !== 'string' || typeof o.signature !== 'string')
    throw new StatsError('PROFILE_MALFORMED', 'publicKey and signature must be base64 strings');
  let pub: Uint8Array;
  let sig: Uint8Array;
  try {
    pub = fromBase64(o.publicKey);
    sig = fromBase64(o.signature);
  } catch {
    throw new StatsError('PROFILE_MALFORMED', 'publicKey or signature is not base64');
  }
  if (trustedKey !== undefined && trustedKey !== o.publicKey)
    return { ok: false, profile, why: 'signed by a key other than the trusted one' };
  if (!ed25519Verify(pub, profileSigningMessage(profile), sig))
    return { ok: false, profile, why: 'signature does not verify' };
  return { ok: true, profile };
}
