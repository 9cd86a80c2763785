// The one place core imports public keys and verifies RSA and ECDSA signatures (TPM quotes,
// EK certificates): node:crypto in Node, @noble/curves in a browser, where RSA is not
// available (platform/web/keys.ts says what a browser answers).
export type { PublicKey, SignatureKind } from '#platform/keys.ts';
export {
  ecCurve,
  ecPublicKey,
  pemPublicKey,
  publicJwk,
  rsaPublicKey,
  spkiBytes,
  verifySignature,
} from '#platform/keys.ts';
