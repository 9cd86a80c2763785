import { Buffer } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import { CoreError } from '../../errors.ts';

// X.509 certificates (EK certificate chains) on node:crypto. A browser has no X.509 here
// (platform/web/x509.ts): EK chains are checked in Node.

/** A parsed certificate: node:crypto's X509Certificate. */
export type Certificate = X509Certificate;

/** A parsed certificate from DER bytes or PEM text. @throws CoreError EK_CERT_INVALID */
export function parseCertificate(cert: Uint8Array | string): X509Certificate {
  try {
    return new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch (cause) {
    throw new CoreError('EK_CERT_INVALID', 'not an X.509 certificate', { cause });
  }
}

/** Every certificate in a PEM bundle. @throws CoreError EK_CERT_INVALID */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => parseCertificate(b));
}

function validAt(cert: X509Certificate, at: Date): boolean {
  return new Date(cert.validFrom) <= at && at <= new Date(cert.validTo);
}

/**
 * Builds a chain from `leaf` through `intermediates` to one of `roots`, checking each signature,
 * issuer name and validity at `at`, and that every issuer is a CA. Returns the chain's subjects,
 * leaf first, or a sentence saying why no chain holds. At most 8 links.
 */
export function chainTo(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  at: Date,
): { ok: true; subjects: string[] } | { ok: false; problem: string } {
  const subjects = [leaf.subject];
  let cert = leaf;
  if (!validAt(cert, at))
    return { ok: false, problem: `certificate ${cert.subject} not valid at ${at.toISOString()}` };
  for (let depth = 0; depth < 8; depth++) {
    const root = roots.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
    if (root !== undefined) {
      if (!root.ca || !validAt(root, at))
        return { ok: false, problem: `root ${root.subject} is not a valid CA` };
      return { ok: true, subjects: [...subjects, root.subject] };
    }
    const next = intermediates.find((r) => r !== cert && cert.checkIssued(r) && cert.verify(r.publicKey));
    if (next === undefined) return { ok: false, problem: `no trusted issuer for ${cert.subject}` };
    if (!next.ca || !validAt(next, at))
      return { ok: false, problem: `issuer ${next.subject} is not a valid CA` };
    subjects.push(next.subject);
    cert = next;
  }
  return { ok: false, problem: 'chain longer than 8 certificates' };
}

/**
 * The span [from, to] (ms since the epoch) in which every one of `certs` (DER or PEM) is
 * valid; from > to when they share none. @throws CoreError EK_CERT_INVALID when one does not parse
 */
export function certificateSpan(certs: readonly (Uint8Array | string)[]): { from: number; to: number } {
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  for (const c of certs.map((x) => parseCertificate(x))) {
    from = Math.max(from, Date.parse(c.validFrom));
    to = Math.min(to, Date.parse(c.validTo));
  }
  return { from, to };
}
