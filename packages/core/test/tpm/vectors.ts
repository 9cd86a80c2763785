import { readFileSync } from 'node:fs';
import { fromHex } from '../../src/bytes/encoding.ts';

/** The AK kinds the committed vectors cover (scripts/tpm-vectors.ts). */
export const AK_KINDS = ['ecc256', 'ecc384', 'rsassa', 'rsapss'] as const;
export type AkKind = (typeof AK_KINDS)[number];

/** Absolute path of a vector file. */
export function vectorPath(name: string): string {
  return new URL(`../vectors/tpm/${name}`, import.meta.url).pathname;
}

/** Bytes of a vector file. */
export function vector(name: string): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(name)));
}

/** One quote as tpm2_quote wrote it, with the AK and nonce. */
export interface QuoteFiles {
  akPublic: Uint8Array;
  akPem: string;
  attest: Uint8Array;
  signature: Uint8Array;
  pcrs: Uint8Array;
  nonce: Uint8Array;
}

/** Quote `n` (1 or 2) made by the AK of `kind`. */
export function quoteFiles(kind: AkKind, n: 1 | 2): QuoteFiles {
  return {
    akPublic: vector(`${kind}/ak.pub`),
    akPem: readFileSync(vectorPath(`${kind}/ak.pem`), 'utf8'),
    attest: vector(`${kind}/quote${n}.msg`),
    signature: vector(`${kind}/quote${n}.sig`),
    pcrs: vector(`${kind}/quote${n}.pcrs`),
    nonce: fromHex(readFileSync(vectorPath(`${kind}/quote${n}.nonce`), 'utf8').trim()),
  };
}
