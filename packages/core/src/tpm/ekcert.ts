import { publicJwk } from '../crypto/keys.ts';
import { chainTo, parseCertificate, parsePemBundle } from '../crypto/x509.ts';
import { CoreError } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { publicKeyOf } from './akey.ts';
import type { TpmPublic } from './public.ts';

/** What checkEkCertificate needs. */
export interface EkCertInput {
  /** The EK certificate: DER bytes (as read from NV index 0x01c00002) or PEM. Untrusted. */
  certificate: Uint8Array | string;
  /** The EK public area the agent sent; its key must be the certificate's. */
  ekPublic: TpmPublic;
  /** Trusted root CAs, PEM (one bundle or several). swtpm's local CA in development. */
  roots: readonly string[];
  /** Intermediate CAs, PEM, not trusted by themselves (swtpm's issuer certificate). */
  intermediates?: readonly string[];
  /** The time to check validity at (core reads no clock). */
  at: Date;
}

/**
 * Checks an EK certificate: it parses, chains to a configured root (signatures, issuers, CA flags,
 * validity at `at`), and certifies the same public key as the EK public area. Returns the checks
 * `tpm.ek.certificate` and `tpm.ek.key`; never throws for bad evidence.
 */
export function checkEkCertificate(input: EkCertInput): Check[] {
  const name = 'tpm.ek.certificate';
  let leaf: ReturnType<typeof parseCertificate>;
  try {
    leaf = parseCertificate(input.certificate);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return [
      { name, status: 'fail', code: err.code, detail: err.message },
      { name: 'tpm.ek.key', status: 'skipped', detail: 'no certificate' },
    ];
  }
  const roots = input.roots.flatMap(parsePemBundle);
  const inter = (input.intermediates ?? []).flatMap(parsePemBundle);
  const chain = chainTo(leaf, inter, roots, input.at);
  const checks: Check[] = [
    chain.ok
      ? { name, status: 'pass', detail: `chain: ${chain.subjects.join(' <- ')}` }
      : { name, status: 'fail', code: 'EK_CERT_CHAIN_INVALID', detail: chain.problem },
  ];
  let same = false;
  try {
    const a = publicJwk(leaf.publicKey);
    const b = publicJwk(publicKeyOf(input.ekPublic));
    same = ['kty', 'n', 'e', 'crv', 'x', 'y'].every((k) => a[k] === b[k]);
  } catch {
    same = false;
  }
  checks.push(
    same
      ? { name: 'tpm.ek.key', status: 'pass', detail: 'certificate key is the EK public area' }
      : {
          name: 'tpm.ek.key',
          status: 'fail',
          code: 'EK_CERT_KEY_MISMATCH',
          detail: 'certificate certifies another key',
        },
  );
  return checks;
}
