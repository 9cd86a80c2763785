// Types shared by the two platform implementations (platform/node/*.ts for Node, on node:crypto
// and Buffer; platform/web/*.ts for browsers, on @noble/hashes and @noble/curves). Core imports a
// primitive as `#platform/<name>.ts`; package.json's `imports` picks the file by the "node"
// condition. test/platform/same.test.ts holds both to the same answers.

/** Digest algorithms core computes. */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** An incremental digest: update any number of times, then digest once. */
export interface Hasher {
  update(data: Uint8Array): Hasher;
  digest(): Uint8Array;
}

/** The NIST curves core verifies ECDSA signatures on (TPM keys, checkpoint note keys). */
export type EcCurve = 'P-256' | 'P-384';

/** How an ECDSA signature is encoded: ASN.1 DER (notes, DSSE) or IEEE P1363 r ‖ s (TPM quotes). */
export type EcdsaEncoding = 'der' | 'ieee-p1363';
