import { CoreError } from '../../errors.ts';
import type { PublicKey } from './keys.ts';

// X.509 in a browser: none. EK certificate chains (RSA signatures, X.509 path building) are
// checked by node:crypto (platform/node/x509.ts); here every certificate is EK_CERT_INVALID,
// so an EK chain check is a named failure, never a silent pass.

/** A parsed certificate (never made in a browser: parseCertificate refuses). */
export interface Certificate {
  readonly raw: Uint8Array;
  readonly subject: string;
  readonly issuer: string;
  readonly publicKey: PublicKey;
  readonly validFrom: string;
  readonly validTo: string;
}

const NONE = 'X.509 certificates are checked in Node only (node:crypto); this runtime has no X.509';

/** @throws CoreError EK_CERT_INVALID always: no X.509 in a browser */
export function parseCertificate(_cert: Uint8Array | string): Certificate {
  throw new CoreError('EK_CERT_INVALID', NONE);
}

/** Every certificate in a PEM bundle. @throws CoreError EK_CERT_INVALID when it holds any */
export function parsePemBundle(pem: string): Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => parseCertificate(b));
}

/** No chain holds in a browser. */
export function chainTo(
  _leaf: Certificate,
  _intermediates: readonly Certificate[],
  _roots: readonly Certificate[],
  _at: Date,
): { ok: true; subjects: string[] } | { ok: false; problem: string } {
  return { ok: false, problem: NONE };
}

/** @throws CoreError EK_CERT_INVALID when given any certificate: no X.509 in a browser */
export function certificateSpan(certs: readonly (Uint8Array | string)[]): { from: number; to: number } {
  for (const c of certs) parseCertificate(c);
  return { from: Number.NEGATIVE_INFINITY, to: Number.POSITIVE_INFINITY };
}
