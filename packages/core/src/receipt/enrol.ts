import { concat, utf8 } from '../bytes/encoding.ts';

/**
 * What an agent's enrolment proof signs (docs/api.md): "tmb.enroll.v1\n" ‖ agent name ‖ "\n" ‖
 * the raw 32-byte Ed25519 key. The agent signs it with the key it enrols; the verifier checks it,
 * so a key is only ever enrolled by whoever holds it.
 */
export function enrolMessage(agent: string, key: Uint8Array): Uint8Array {
  return concat(utf8('tmb.enroll.v1\n'), utf8(agent), utf8('\n'), key);
}
