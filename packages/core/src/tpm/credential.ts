import { concat } from '../bytes/encoding.ts';
import { HASH_SIZE } from '../crypto/hash.ts';
import { aesCfbEncrypt, ecdhEphemeral, hmac, random, rsaOaepEncrypt } from '../crypto/seal.ts';
import { CoreError } from '../errors.ts';
import { publicKeyOf } from './akey.ts';
import { CURVES } from './alg.ts';
import { kdfa, kdfe, label } from './kdf.ts';
import type { TpmPublic } from './public.ts';

/** MakeCredential's output: TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET contents, and the file form. */
export interface Credential {
  /** TPM2B_ID_OBJECT's buffer: integrityHMAC (as TPM2B_DIGEST) || encIdentity. */
  credentialBlob: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET's buffer: the RSA-OAEP ciphertext, or a TPMS_ECC_POINT. */
  encryptedSecret: Uint8Array;
  /**
   * The file `tpm2_makecredential -o` writes and `tpm2_activatecredential -i` reads (tpm2-tools
   * 5.4, checked against both): magic 0xBADCC0DE and version 1 (big-endian u32s), then
   * TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, each a big-endian u16 size and its bytes.
   */
  file: Uint8Array;
}

function u16(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

function tpm2b(b: Uint8Array): Uint8Array {
  return concat(u16(b.length), b);
}

/**
 * TPM2_MakeCredential in software (TPM 2.0 Part 1, 24 "Credential Protection"; Part 3, 12.6):
 * encrypts `secret` so that only the TPM holding `ekPublic` can recover it, and only for the
 * object named `akName`. A seed is shared with the EK (RSA: OAEP with label "IDENTITY\0"; ECC:
 * ephemeral ECDH and KDFe with "IDENTITY", Part 1 annex C.6.4), then
 * symKey = KDFa(nameAlg, seed, "STORAGE", akName, "", EK symmetric bits),
 * encIdentity = AES-CFB(symKey, IV 0, TPM2B(secret)),
 * HMACkey = KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits),
 * integrity = HMAC(HMACkey, encIdentity || akName).
 *
 * @throws CoreError TPM_KEY_INVALID when the EK is not a storage (decrypt, restricted) key with
 *   AES symmetric parameters, or the secret is empty or longer than the EK's name digest
 */
export function makeCredential(ekPublic: TpmPublic, akName: Uint8Array, secret: Uint8Array): Credential {
  const hash = ekPublic.nameHash;
  const size = HASH_SIZE[hash];
  if (ekPublic.symmetric === null)
    throw new CoreError('TPM_KEY_INVALID', 'EK has no symmetric algorithm: not a storage key');
  if (secret.length === 0 || secret.length > size)
    throw new CoreError('TPM_KEY_INVALID', `secret of ${secret.length} bytes, 1..${size} allowed`);
  let seed: Uint8Array;
  let encryptedSecret: Uint8Array;
  if (ekPublic.type === 'rsa') {
    seed = random(size);
    encryptedSecret = rsaOaepEncrypt(publicKeyOf(ekPublic), hash, label('IDENTITY'), seed);
  } else {
    publicKeyOf(ekPublic); // refuses a point off the curve before ECDH
    const eph = ecdhEphemeral(CURVES.get(ekPublic.curve)!.node, ekPublic.x, ekPublic.y);
    seed = kdfe(hash, eph.z, 'IDENTITY', eph.x, ekPublic.x, size * 8);
    encryptedSecret = concat(tpm2b(eph.x), tpm2b(eph.y));
  }
  const symKey = kdfa(hash, seed, 'STORAGE', akName, new Uint8Array(0), ekPublic.symmetric.keyBits);
  const encIdentity = aesCfbEncrypt(symKey, tpm2b(secret));
  const hmacKey = kdfa(hash, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), size * 8);
  const integrity = hmac(hash, hmacKey, encIdentity, akName);
  const credentialBlob = concat(tpm2b(integrity), encIdentity);
  const file = concat(
    new Uint8Array([0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1]),
    tpm2b(credentialBlob),
    tpm2b(encryptedSecret),
  );
  return { credentialBlob, encryptedSecret, file };
}
