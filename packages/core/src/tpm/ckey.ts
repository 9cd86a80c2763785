import { fromBase64Url, fromHex } from '../bytes/encoding.ts';
import { spkiBytes } from '../crypto/keys.ts';
import { CoreError } from '../errors.ts';
import { ecdsaNoteVerifier } from '../log/ecdsa.ts';
import { ed25519NoteVerifier, type NoteVerifier } from '../log/vkey.ts';
import { publicKeyOf } from './akey.ts';
import { type CertifyResult, checkpointKeyQualifying, verifyCertify } from './certify.ts';
import { parseTpm2bPublic, type TpmPublic } from './public.ts';

/**
 * The checkpoint key as a receipt answer's `attestation.tpmKey` and a bundle carry it
 * (docs/evidence.md, "The checkpoint key"): the TPM-held P-256 key's TPM2B_PUBLIC and its
 * TPM2_Certify by the agent's AK, all base64url but the nonce (hex) and receiptKeyId (hex).
 * Change rule: a new key type gets a new `type`; readers refuse types they do not know.
 */
export interface CheckpointKeyMember {
  type: 'tpm-p256';
  public: string;
  certify: { attest: string; signature: string; nonce: string; receiptKeyId: string };
}

/** The DER SubjectPublicKeyInfo of an ECC or RSA public area. @throws CoreError TPM_KEY_INVALID */
export function spkiOf(pub: TpmPublic): Uint8Array {
  return spkiBytes(publicKeyOf(pub));
}

/**
 * The note verifier for an agent's checkpoints under `origin`: from a `tpm-p256` member, an
 * ECDSA (signed-note type 0x02) verifier of the TPM key; from a string, an Ed25519 verifier of
 * that base64url raw key (agents without a TPM). It checks signatures only: whether the TPM key
 * is certified by the agent's AK is verifyCheckpointKey's question.
 * @throws CoreError NOTE_KEY_MALFORMED when the member is not a key of a known type
 */
export function checkpointNoteVerifier(origin: string, member: CheckpointKeyMember | string): NoteVerifier {
  try {
    if (typeof member === 'string') return ed25519NoteVerifier(origin, fromBase64Url(member));
    if (member === null || typeof member !== 'object' || member.type !== 'tpm-p256')
      throw new CoreError('NOTE_KEY_MALFORMED', 'checkpoint key of an unknown type');
    return ecdsaNoteVerifier(origin, spkiOf(parseTpm2bPublic(fromBase64Url(member.public))));
  } catch (err) {
    if (err instanceof CoreError && err.code === 'NOTE_KEY_MALFORMED') throw err;
    throw new CoreError('NOTE_KEY_MALFORMED', `checkpoint key: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Re-checks a checkpoint key member's certification offline: verifyCertify against the AK the
 * verifier activated, with the qualifying data rebuilt from the member's nonce, `agent` and the
 * member's receiptKeyId (which the caller compares with its receipt's `key`). Freshness of the
 * nonce is what only the verifier knows (it issued it once). Never throws for bad evidence.
 */
export function verifyCheckpointKey(
  member: CheckpointKeyMember,
  o: { akPublic: Uint8Array | TpmPublic; agent: string },
): CertifyResult {
  const bytes = (s: unknown, hex = false): Uint8Array => {
    try {
      return typeof s === 'string' ? (hex ? fromHex(s) : fromBase64Url(s)) : new Uint8Array(0);
    } catch {
      return new Uint8Array(0);
    }
  };
  const c = member.certify ?? ({} as Partial<CheckpointKeyMember['certify']>);
  const receiptKeyId = typeof c.receiptKeyId === 'string' ? c.receiptKeyId : '';
  return verifyCertify({
    keyPublic: bytes(member.public),
    certifyInfo: bytes(c.attest),
    signature: bytes(c.signature),
    akPublic: o.akPublic,
    expectedQualifyingData: checkpointKeyQualifying(bytes(c.nonce, true), o.agent, receiptKeyId),
  });
}
