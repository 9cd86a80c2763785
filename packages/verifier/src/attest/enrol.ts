import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Check, CoreError, toBase64Url, toHex, type VerdictTpm } from '@tmb/core';
import {
  akAttributeProblem,
  appraiseEkCertificate,
  makeCredential,
  type TpmPublic,
  tpmName,
} from '@tmb/core/tpm';
import { VerifierError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import type { AttestService } from './service.ts';
import { type AgentAttest, loadAttest, saveAttest } from './state.ts';

/** Where EK certificates may chain and whether a hardware root is required (docs/tpm-roots.md). */
export interface EkTrust {
  intermediates: string[];
  hardwareRoots: string[];
  requireHardware: boolean;
}

/** An AK enrolment request, parsed: the EK and AK public areas (as sent and parsed), the EK
 * certificate (base64url DER as sent, and its bytes; null: none sent) and the application PCR. */
export interface AkEnrolRequest {
  ekBytes: Uint8Array;
  akBytes: Uint8Array;
  ek: TpmPublic;
  ak: TpmPublic;
  certificate: { text: string; der: Uint8Array } | null;
  pcr: number;
}

/** The outcome of an AK enrolment: refused with the named checks, or a MakeCredential challenge. */
export type AkEnrolOutcome =
  | { ok: false; checks: Check[] }
  | { ok: true; akName: string; challenge: string; tpm: VerdictTpm };

/** host.ek_certificate of a request: the EK certificate chain, profile and root class. */
function ekCertificateCheck(
  attest: AttestService,
  trust: EkTrust,
  r: AkEnrolRequest,
): { check: Check; tpm: VerdictTpm } {
  if (r.certificate === null)
    return {
      check: {
        name: 'host.ek_certificate',
        status: 'fail',
        code: 'EK_CERT_INVALID',
        detail: 'the agent sent no EK certificate',
      },
      tpm: { root: 'unknown', issuer: '', manufacturer: null },
    };
  // Chain, TCG EK profile and root class (docs/tpm-roots.md); the class goes into every verdict.
  const appraisal = appraiseEkCertificate({
    certificate: r.certificate.der,
    ekPublic: r.ek,
    roots: attest.roots,
    intermediates: trust.intermediates,
    hardwareRoots: trust.hardwareRoots,
    requireHardware: trust.requireHardware,
    at: new Date(),
  });
  const failed = appraisal.checks.find((c) => c.status === 'fail');
  return {
    check: failed
      ? { ...failed, name: 'host.ek_certificate' }
      : {
          name: 'host.ek_certificate',
          status: 'pass',
          detail: appraisal.checks.map((c) => c.detail).join('; '),
        },
    tpm: appraisal.tpm,
  };
}

/**
 * Starts an AK enrolment of `agent` (docs/evidence.md): checks the EK certificate (chain to a
 * vendor or configured root, TCG EK profile, root class; docs/tpm-roots.md) and that it
 * certifies the EK, checks the AK's attributes, computes the AK name from its public area, and
 * answers a MakeCredential challenge (the tpm2_makecredential file, base64url), kept pending in
 * `attest` until activateAk. Refused (ok false) with the failed checks.
 * @throws VerifierError BODY_MALFORMED when MakeCredential cannot use the EK
 */
export async function startAkEnrolment(
  attest: AttestService,
  trust: EkTrust,
  agent: string,
  r: AkEnrolRequest,
): Promise<AkEnrolOutcome> {
  const { check: ekCheck, tpm } = ekCertificateCheck(attest, trust, r);
  const problem = akAttributeProblem(r.ak);
  const akCheck: Check =
    problem === null
      ? { name: 'host.ak_activated', status: 'skipped', detail: 'waiting for ActivateCredential' }
      : { name: 'host.ak_activated', status: 'fail', code: 'AK_ATTRIBUTES_INVALID', detail: problem };
  // A TPM refused only for its root's class (--require-hardware-tpm) still enrols: every verdict
  // then names EK_ROOT_NOT_HARDWARE in host.ek_certificate, which keeps it below L1.
  const ekRefused = ekCheck.status === 'fail' && ekCheck.code !== 'EK_ROOT_NOT_HARDWARE';
  if (ekRefused || akCheck.status === 'fail') return { ok: false, checks: [ekCheck, akCheck] };
  const akName = tpmName(r.ak);
  const secret = new Uint8Array(randomBytes(32));
  let file: Uint8Array;
  try {
    file = makeCredential(r.ek, akName, secret).file;
  } catch (cause) {
    if (!(cause instanceof CoreError)) throw cause;
    throw new VerifierError('BODY_MALFORMED', `ekPublic: ${cause.message}`, { cause });
  }
  await attest.pending.set(agent, {
    secretSha256: sha256(secret),
    ekPublic: r.ekBytes,
    akPublic: r.akBytes,
    akName,
    ekCheck,
    tpm,
    ekCertificate: r.certificate?.text ?? null,
    pcr: r.pcr,
    expires: attest.now() + attest.challengeTtlMs,
  });
  return { ok: true, akName: toHex(akName), challenge: toBase64Url(file), tpm };
}

/**
 * Completes `agent`'s pending AK enrolment with the `secret` ActivateCredential recovered. Only a
 * TPM holding both the certified EK and the AK can; the AK is then the agent's (replacing an
 * earlier one on the same EK: the agent restarted on the same TPM). An AK on another EK (another
 * TPM) replaces the agent's only once the operator allowed it (`tmb verifier allow-ak`), and uses
 * up that permission; it starts the clock and measurement-log state afresh. Runs under the
 * agent's lock (lock.ts). Returns the AK name (hex) and whether the agent moved to another TPM.
 * @throws VerifierError ACTIVATION_FAILED (wrong secret, none pending) | AK_REPLACEMENT_REFUSED
 *   (another TPM's AK without the operator's permission; the pending enrolment is dropped)
 */
export function activateAk(
  store: Store,
  attest: AttestService,
  agent: string,
  secret: Uint8Array,
): Promise<{ akName: string; newTpm: boolean }> {
  return attest.lock.run(agent, () => activateLocked(store, attest, agent, secret)); // lock.ts
}

async function activateLocked(
  store: Store,
  attest: AttestService,
  agent: string,
  secret: Uint8Array,
): Promise<{ akName: string; newTpm: boolean }> {
  // Taken atomically from the store (attest/pending.ts): one answer activates once, in any process.
  const p = await attest.pending.take(agent);
  if (p === undefined)
    throw new VerifierError('ACTIVATION_FAILED', 'no AK enrolment of this agent is waiting for activation');
  if (!timingSafeEqual(sha256(secret), p.secretSha256))
    throw new VerifierError(
      'ACTIVATION_FAILED',
      'the secret is not the one MakeCredential sealed to this EK and AK',
    );
  const before = await loadAttest(store, agent);
  const sameEk = before !== undefined && before.ekPublic === toBase64Url(p.ekPublic);
  // A token is enough to move an agent's name onto another TPM only with the operator's word:
  // else whoever holds the token (any root process on the host) could swap in a TPM it controls.
  if (before !== undefined && !sameEk && !(await store.takeAkAllowance(agent)))
    throw new VerifierError(
      'AK_REPLACEMENT_REFUSED',
      `agent ${JSON.stringify(agent)} already has an AK on another TPM (EK); an operator must run "tmb verifier allow-ak --agent ${agent}" to let its next activation replace it`,
    );
  const sameTpm = sameEk && before.pcr === p.pcr;
  const next: AgentAttest = {
    ekPublic: toBase64Url(p.ekPublic),
    ekCheck: p.ekCheck,
    tpm: p.tpm,
    ekCertificate: p.ekCertificate ?? null,
    akPublic: toBase64Url(p.akPublic),
    akName: toHex(p.akName),
    activatedAt: attest.now(),
    pcr: p.pcr,
    clock: sameTpm ? before.clock : null,
    ima: sameTpm ? before.ima : null,
    bound: before?.bound ?? [],
    checkpointKeys: before?.checkpointKeys ?? [],
    checkpoint: before?.checkpoint ?? null,
    checks: before?.checks ?? [],
    quote: before?.quote ?? null,
    acceptedAt: before?.acceptedAt ?? null,
    // The receipt log's runs go with the checkpoint kept above (a new AK is an agent restart,
    // not a new log): without them the checkpoint would be read as run 0's.
    ...(before?.run ? { run: before.run } : {}),
    ...(before?.endedRuns ? { endedRuns: before.endedRuns } : {}),
    ...(before?.foldedRuns ? { foldedRuns: before.foldedRuns } : {}),
  };
  await saveAttest(store, agent, next, before);
  return { akName: toHex(p.akName), newTpm: before !== undefined && !sameEk };
}

/** SHA-256 of a credential secret: only its digest is kept while an enrolment waits (pending.ts). */
function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}
