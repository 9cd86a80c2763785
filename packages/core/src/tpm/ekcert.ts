import { publicJwk } from '../crypto/keys.ts';
import { type Certificate, chainTo, parseCertificate, parsePemBundle } from '../crypto/x509.ts';
import { CoreError } from '../errors.ts';
import type { Check, VerdictTpm } from '../verdict/types.ts';
import { publicKeyOf } from './akey.ts';
import { type EkProfile, ekProfileNotes, ekProfileProblems, readEkProfile } from './ekprofile.ts';
import type { TpmPublic } from './public.ts';
import { HARDWARE_EK_ROOTS } from './roots.ts';
import { manufacturerName } from './vendors.ts';

/** What checkEkCertificate needs. */
export interface EkCertInput {
  /** The EK certificate: DER bytes (as read from NV index 0x01c00002, padding allowed) or PEM. Untrusted. */
  certificate: Uint8Array | string;
  /** The EK public area the agent sent; its key must be the certificate's. */
  ekPublic: TpmPublic;
  /** Root CAs the operator trusts, PEM (one bundle or several): swtpm's local CA in development.
   * A chain that ends here and reaches no hardware root is classed `development`. */
  roots: readonly string[];
  /** Intermediate CAs, PEM, never trusted by themselves (swtpm's issuer, a vendor's issuing CA). */
  intermediates?: readonly string[];
  /**
   * TPM vendors' CAs, PEM: a chain to any of them is classed `hardware`. Left out: the shipped
   * list (HARDWARE_EK_ROOTS, packages/core/src/tpm/roots/README.md). Tests pass a test CA here
   * to play a vendor; an empty list makes every chain `development` at best.
   */
  hardwareRoots?: readonly string[];
  /** When true, a chain that reaches no hardware root fails with EK_ROOT_NOT_HARDWARE. Default false. */
  requireHardware?: boolean;
  /** The time to check validity at (core reads no clock). */
  at: Date;
}

/** The named checks of an EK certificate and what the verdict says of the TPM. */
export interface EkAppraisal {
  /** `tpm.ek.certificate` (chain, EK profile, root class) and `tpm.ek.key`. */
  checks: Check[];
  tpm: VerdictTpm;
}

// The shipped list parsed once (43 certificates, about 2 ms): a pure memo of constant data.
let shipped: Certificate[] | undefined;
function hardwareAnchors(pems: readonly string[] | undefined): Certificate[] {
  if (pems !== undefined) return pems.flatMap(parsePemBundle);
  shipped ??= HARDWARE_EK_ROOTS.flatMap((r) => parsePemBundle(r.pem));
  return shipped;
}

// node:crypto gives `undefined` for an empty subject, as real EK certificates have (the SAN names the TPM).
const oneLine = (name: string | undefined) => (name ? name.split('\n').join(', ') : '(empty)');

function manufacturerOf(p: EkProfile | undefined): string | null {
  const raw = p?.san?.manufacturer ?? null;
  return raw === null ? null : (manufacturerName(raw) ?? raw);
}

function keyCheck(leaf: Certificate, ekPublic: TpmPublic): Check {
  let same = false;
  try {
    const a = publicJwk(leaf.publicKey);
    const b = publicJwk(publicKeyOf(ekPublic));
    same = ['kty', 'n', 'e', 'crv', 'x', 'y'].every((k) => a[k] === b[k]);
  } catch {
    same = false;
  }
  return same
    ? { name: 'tpm.ek.key', status: 'pass', detail: 'certificate key is the EK public area' }
    : {
        name: 'tpm.ek.key',
        status: 'fail',
        code: 'EK_CERT_KEY_MISMATCH',
        detail: 'certificate certifies another key',
      };
}

/**
 * Appraises an EK certificate: it parses; it chains (signatures, issuers, CA flags, validity at
 * `at`) through `intermediates` to a hardware vendor CA (class `hardware`) or else to one of the
 * operator's `roots` (class `development`); it meets the TCG EK profile (ekProfileProblems); with
 * `requireHardware`, its class is `hardware`; and it certifies the EK public area. Never throws
 * for bad evidence. Failure codes of `tpm.ek.certificate`, first that applies: EK_CERT_INVALID,
 * EK_CERT_DER_INVALID, EK_CERT_CHAIN_INVALID, EK_CERT_PROFILE_INVALID, EK_ROOT_NOT_HARDWARE.
 */
export function appraiseEkCertificate(input: EkCertInput): EkAppraisal {
  const name = 'tpm.ek.certificate';
  let leaf: Certificate;
  try {
    leaf = parseCertificate(input.certificate);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return {
      checks: [
        { name, status: 'fail', code: err.code, detail: err.message },
        { name: 'tpm.ek.key', status: 'skipped', detail: 'no certificate' },
      ],
      tpm: { root: 'unknown', issuer: '', manufacturer: null },
    };
  }
  const key = keyCheck(leaf, input.ekPublic);
  const unknown: VerdictTpm = { root: 'unknown', issuer: oneLine(leaf.issuer), manufacturer: null };
  let profile: EkProfile;
  try {
    // `raw` is the certificate alone: NV padding after it is not part of what was signed.
    profile = readEkProfile(new Uint8Array(leaf.raw));
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { checks: [{ name, status: 'fail', code: err.code, detail: err.message }, key], tpm: unknown };
  }
  const roots = input.roots.flatMap(parsePemBundle);
  const inter = (input.intermediates ?? []).flatMap(parsePemBundle);
  // A vendor chain may pass through CAs the operator listed as roots: try the vendors' first.
  const hw = chainTo(leaf, [...inter, ...roots], hardwareAnchors(input.hardwareRoots), input.at);
  const chain = hw.ok ? hw : chainTo(leaf, inter, roots, input.at);
  const manufacturer = manufacturerOf(profile);
  if (!chain.ok)
    return {
      checks: [{ name, status: 'fail', code: 'EK_CERT_CHAIN_INVALID', detail: chain.problem }, key],
      tpm: { ...unknown, manufacturer },
    };
  const tpm: VerdictTpm = {
    root: hw.ok ? 'hardware' : 'development',
    issuer: oneLine(chain.subjects[chain.subjects.length - 1]!),
    manufacturer,
  };
  const problems = ekProfileProblems(profile, leaf.publicKey.asymmetricKeyType);
  let check: Check;
  if (problems.length > 0)
    check = { name, status: 'fail', code: 'EK_CERT_PROFILE_INVALID', detail: problems.join('; ') };
  else if (input.requireHardware === true && tpm.root !== 'hardware')
    check = {
      name,
      status: 'fail',
      code: 'EK_ROOT_NOT_HARDWARE',
      detail: `the EK chains to ${tpm.issuer}, a ${tpm.root} root, and this verifier requires a hardware TPM vendor's CA`,
    };
  else {
    const san = profile.san;
    const notes = ekProfileNotes(profile);
    check = {
      name,
      status: 'pass',
      detail:
        `${tpm.root} root; chain: ${chain.subjects.map(oneLine).join(' <- ')}; ` +
        `TPM ${manufacturer} ${san?.model} ${san?.version}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`,
    };
  }
  return { checks: [check, key], tpm };
}

/**
 * The checks `tpm.ek.certificate` and `tpm.ek.key` of appraiseEkCertificate (see there).
 * Never throws for bad evidence.
 */
export function checkEkCertificate(input: EkCertInput): Check[] {
  return appraiseEkCertificate(input).checks;
}
