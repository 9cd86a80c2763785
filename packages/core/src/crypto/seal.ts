// The primitives of TPM credential protection (makeCredential): node:crypto in Node; a
// browser has none of them (a verifier's job, never a relying party's).
export { aesCfbEncrypt, ecdhEphemeral, hmac, random, rsaOaepEncrypt } from '#platform/seal.ts';
