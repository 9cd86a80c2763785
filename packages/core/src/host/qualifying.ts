import { type CanonicalValue, canonicalBytes } from '../bytes/canonical.ts';
import { utf8 } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';

/**
 * The evidence members a quote covers besides the checkpoint (docs/evidence.md, "Qualifying
 * data"): what the agent says about its telemetry tool and its upstream. They are the agent's
 * word, but a word the TPM signed in the same quote, so nobody between agent and verifier (and
 * no process replaying an old quote) can change them.
 */
export interface QuotedMembers {
  telemetryTool: unknown;
  upstream: unknown;
}

/**
 * The qualifying data of an evidence quote: SHA-256(nonce ‖ checkpoint note ‖ members digest),
 * where the nonce is the verifier's (raw bytes), the note the exact checkpoint text quoted, and
 * the members digest {@link quotedMembersDigest}. Agent and verifier both compute it here.
 * @throws CoreError RECEIPT_MALFORMED (from canonical JSON) when the members have no canonical form
 */
export function quoteQualifyingData(nonce: Uint8Array, note: string, members: QuotedMembers): Uint8Array {
  const value = { telemetryTool: members.telemetryTool ?? null, upstream: members.upstream ?? null };
  return sha256(nonce, utf8(note), sha256(canonicalBytes(value as CanonicalValue)));
}
