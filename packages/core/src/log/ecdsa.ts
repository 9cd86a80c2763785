import { ecCurve, ecdsaVerify, type PublicKey, spkiPublicKey } from '#platform/keys.ts';
import { sha256 } from '../crypto/hash.ts';
import { CoreError } from '../errors.ts';
import { isValidKeyName, type NoteSigner, type NoteVerifier } from './vkey.ts';

// C2SP signed-note (https://c2sp.org/signed-note), "Signature types": type 0x02 is ECDSA as
// transparency-dev/witness implements it: the key ID is the first four bytes (big-endian) of
// SHA-256 of the public key's DER SubjectPublicKeyInfo, and the signature is ASN.1 DER
// (SEQUENCE of r, s) over SHA-256 of the note text. TMB uses P-256 only (the TPM checkpoint key).

/** Signature type identifier byte of ECDSA notes (C2SP signed-note). */
export const NOTE_SIG_ECDSA = 0x02;

/** Largest DER ECDSA P-256 signature: SEQUENCE(2) + two INTEGERs of at most 33 bytes (2 + 33 each). */
const MAX_DER_SIG = 72;

/**
 * Key ID of an ECDSA note key: SHA-256(DER SubjectPublicKeyInfo)[:4], big-endian.
 */
export function ecdsaNoteKeyId(spki: Uint8Array): number {
  const h = sha256(spki);
  return new DataView(h.buffer, h.byteOffset).getUint32(0, false);
}

function p256(spki: Uint8Array): PublicKey {
  let key: PublicKey;
  try {
    key = spkiPublicKey(spki);
  } catch (cause) {
    throw new CoreError('NOTE_KEY_MALFORMED', 'not a DER SubjectPublicKeyInfo', { cause });
  }
  if (ecCurve(key) !== 'P-256')
    throw new CoreError('NOTE_KEY_MALFORMED', 'the ECDSA note key must be on NIST P-256');
  return key;
}

/**
 * A verifier of ECDSA P-256 note signatures (type 0x02) by the key `spki` (DER
 * SubjectPublicKeyInfo) under key name `name`. Signatures are DER; anything else fails.
 * @throws CoreError NOTE_KEY_MALFORMED for an invalid name or a key that is not P-256
 */
export function ecdsaNoteVerifier(name: string, spki: Uint8Array): NoteVerifier {
  if (!isValidKeyName(name))
    throw new CoreError('NOTE_KEY_MALFORMED', `invalid key name ${JSON.stringify(name)}`);
  const key = p256(spki);
  return {
    name,
    keyId: ecdsaNoteKeyId(spki),
    verify: (text, signature) => {
      if (signature.length < 8 || signature.length > MAX_DER_SIG || signature[0] !== 0x30) return false;
      return ecdsaVerify(key, 'sha256', text, signature, 'der');
    },
  };
}

/**
 * An ECDSA P-256 note signer from the key's SPKI and a callback that returns the DER signature
 * of SHA-256(text) (the agent's TPM key: TpmDriver.signDigest, then derEcdsaSignature).
 * @throws CoreError NOTE_KEY_MALFORMED
 */
export function ecdsaNoteSigner(
  name: string,
  spki: Uint8Array,
  sign: (text: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): NoteSigner {
  if (!isValidKeyName(name))
    throw new CoreError('NOTE_KEY_MALFORMED', `invalid key name ${JSON.stringify(name)}`);
  p256(spki);
  return { name, keyId: ecdsaNoteKeyId(spki), sign };
}

/** One DER INTEGER of a non-negative big-endian value: minimal, with a 0x00 before a high bit. */
function derInteger(v: Uint8Array): number[] {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = [...v.subarray(i)];
  if (body.length === 0) body.push(0);
  if (body[0]! & 0x80) body.unshift(0);
  return [0x02, body.length, ...body];
}

/** ASN.1 DER ECDSA-Sig-Value (RFC 3279, 2.2.3) from r and s as the TPM gives them (big-endian). */
export function derEcdsaSignature(r: Uint8Array, s: Uint8Array): Uint8Array {
  const body = [...derInteger(r), ...derInteger(s)];
  return new Uint8Array([0x30, body.length, ...body]);
}
