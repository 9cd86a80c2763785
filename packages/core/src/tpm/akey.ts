import { ecPublicKey, type PublicKey, pemPublicKey, rsaPublicKey } from '../crypto/keys.ts';
import { CURVES } from './alg.ts';
import { ObjectAttr, type TpmPublic } from './public.ts';

// Importing a key costs about 40 us (bench/quote.bench.ts); a verifier holding an enrolled AK's
// parsed public area verifies many quotes with it, so keys are kept per parsed object.
const keys = new WeakMap<TpmPublic, PublicKey>();

/**
 * The public key of an RSA or ECC public area, imported once per parsed object.
 * @throws CoreError TPM_KEY_INVALID
 */
export function publicKeyOf(pub: TpmPublic): PublicKey {
  let key = keys.get(pub);
  if (key === undefined) {
    key =
      pub.type === 'rsa'
        ? rsaPublicKey(pub.modulus, pub.exponent === 0 ? 65537 : pub.exponent)
        : ecPublicKey(CURVES.get(pub.curve)!.jwk, pub.x, pub.y);
    keys.set(pub, key);
  }
  return key;
}

/** A public key from PEM text (for an AK given as PEM). @throws CoreError BAD_ENCODING */
export function publicKeyOfPem(pem: string): PublicKey {
  return pemPublicKey(pem);
}

const AK_REQUIRED =
  ObjectAttr.fixedTPM |
  ObjectAttr.fixedParent |
  ObjectAttr.sensitiveDataOrigin |
  ObjectAttr.restricted |
  ObjectAttr.sign;

/**
 * What is wrong with a public area as an attestation key (TPM 2.0 Part 1, 25.2 "Attestation
 * Keys"): it must be a restricted signing key that never leaves its TPM (fixedTPM, fixedParent,
 * sensitiveDataOrigin) and not a decryption key. Returns null when it qualifies.
 */
export function akAttributeProblem(pub: TpmPublic): string | null {
  const missing = Object.entries(ObjectAttr)
    .filter(([, bit]) => (AK_REQUIRED & bit) !== 0 && (pub.attributes & bit) === 0)
    .map(([name]) => name);
  if (missing.length > 0) return `objectAttributes lack ${missing.join(', ')}`;
  if ((pub.attributes & ObjectAttr.decrypt) !== 0) return 'objectAttributes has decrypt';
  return null;
}
