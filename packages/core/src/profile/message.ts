import { jcsBytes } from '../bytes/canonical.ts';
import { concat, utf8 } from '../bytes/encoding.ts';

// Signed telemetry profiles (docs/profile.md, "Signed profile files"): an Ed25519 signature over
//   "tmb-profile-v1" || 0x00 || JCS(profile)
// where JCS is RFC 8785 canonical JSON of the parsed profile (floats allowed). The profile's
// types and parser live in @tmb/stats; only the signed message is a wire format of core's.

/** The domain that starts every profile signing message: "tmb-profile-v1" and a 0x00 byte. */
export const PROFILE_SIGNING_DOMAIN: Uint8Array = utf8('tmb-profile-v1\0');

/**
 * What a profile signature covers: PROFILE_SIGNING_DOMAIN || JCS(profile). Pass the parsed
 * profile (stats' parseProfile), never the file's bytes, so formatting cannot change what is
 * signed.
 * @throws CoreError BAD_ENCODING when the profile holds a value JSON cannot carry (NaN, Infinity).
 */
export function profileSigningMessage(profile: unknown): Uint8Array {
  return concat(PROFILE_SIGNING_DOMAIN, jcsBytes(profile));
}
