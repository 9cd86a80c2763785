import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type Check, CoreError, fromBase64Url, toBase64Url, toHex, type VerdictTpm } from '@tmb/core';
import {
  akAttributeProblem,
  appraiseEkCertificate,
  makeCredential,
  parseTpm2bPublic,
  type TpmPublic,
  tpmName,
} from '@tmb/core/tpm';
import type { Context } from '../api/context.ts';
import { TokenAuth } from '../auth.ts';
import { VerifierError } from '../errors.ts';
import { asObject, readJson, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { AGENT_NAME } from '../options.ts';
import { loadAttest, saveAttest } from './state.ts';

/** Reads the token-checked agent name and body of an attest request. */
export async function agentRequest(
  ctx: Context,
  maxBytes = ctx.options.maxBodyBytes,
): Promise<{ agent: string; body: Record<string, unknown> }> {
  const grant = ctx.auth.check(ctx.req.headers.authorization);
  const body = asObject(await readJson(ctx.req, Math.max(maxBytes, ctx.options.maxBodyBytes)), 'request');
  const agent = stringField(body, 'agent', 128);
  if (!AGENT_NAME.test(agent)) throw new VerifierError('BODY_MALFORMED', 'bad agent name');
  TokenAuth.allow(grant, agent);
  return { agent, body };
}

/** base64url field to bytes. @throws VerifierError BODY_MALFORMED */
export function bytesField(body: Record<string, unknown>, key: string, max = 1 << 20): Uint8Array {
  try {
    return fromBase64Url(stringField(body, key, max));
  } catch (cause) {
    if (cause instanceof VerifierError) throw cause;
    throw new VerifierError('BODY_MALFORMED', `"${key}" is not unpadded base64url`, { cause });
  }
}

function tpmPublic(bytes: Uint8Array, what: string): TpmPublic {
  try {
    return parseTpm2bPublic(bytes);
  } catch (cause) {
    if (!(cause instanceof CoreError)) throw cause;
    throw new VerifierError('BODY_MALFORMED', `${what}: ${cause.code}: ${cause.message}`, { cause });
  }
}

/** Sends 422 EVIDENCE_REJECTED with the named checks. */
export function reject(ctx: Context, checks: Check[]): void {
  const failed = checks.find((c) => c.status === 'fail');
  ctx.log.warn('attest_refused', { route: ctx.url.pathname, code: failed?.code, check: failed?.name });
  sendJson(ctx.res, 422, {
    error: {
      code: 'EVIDENCE_REJECTED',
      message: failed ? `${failed.name}: ${failed.code}: ${failed.detail}` : 'rejected',
    },
    checks,
  });
}

/**
 * POST /v1/attest/enroll {agent, ekPublic, ekCertificate, akPublic, pcr}: checks the EK
 * certificate (chain to a vendor or configured root, TCG EK profile, root class; docs/tpm-roots.md)
 * and that it certifies the EK, checks the AK's
 * attributes, computes the AK name from its public area, and answers a MakeCredential challenge
 * `{challenge}` (the tpm2_makecredential file, base64url). The AK is trusted only after
 * /v1/attest/activate returns the secret. 422 EVIDENCE_REJECTED names a failed check.
 */
export async function enrollAk(ctx: Context): Promise<void> {
  const { agent, body } = await agentRequest(ctx);
  const ekBytes = bytesField(body, 'ekPublic');
  const akBytes = bytesField(body, 'akPublic');
  const ek = tpmPublic(ekBytes, 'ekPublic');
  const ak = tpmPublic(akBytes, 'akPublic');
  const pcr = body.pcr;
  if (typeof pcr !== 'number' || !Number.isInteger(pcr) || pcr < 8 || pcr > 15)
    throw new VerifierError(
      'BODY_MALFORMED',
      '"pcr" must be an application PCR 8..15 (16 and 23 are resettable)',
    );
  const cert = body.ekCertificate;
  let ekCheck: Check;
  let tpm: VerdictTpm = { root: 'unknown', issuer: '', manufacturer: null };
  if (typeof cert !== 'string') {
    ekCheck = {
      name: 'host.ek_certificate',
      status: 'fail',
      code: 'EK_CERT_INVALID',
      detail: 'the agent sent no EK certificate',
    };
  } else {
    // Chain, TCG EK profile and root class (docs/tpm-roots.md); the class goes into every verdict.
    const o = ctx.options;
    const appraisal = appraiseEkCertificate({
      certificate: bytesField(body, 'ekCertificate'),
      ekPublic: ek,
      roots: ctx.attest.roots,
      intermediates: o.ekIntermediates,
      hardwareRoots: o.ekHardwareRoots,
      requireHardware: o.requireHardwareTpm,
      at: new Date(),
    });
    tpm = appraisal.tpm;
    const failed = appraisal.checks.find((c) => c.status === 'fail');
    ekCheck = failed
      ? { ...failed, name: 'host.ek_certificate' }
      : {
          name: 'host.ek_certificate',
          status: 'pass',
          detail: appraisal.checks.map((c) => c.detail).join('; '),
        };
  }
  const problem = akAttributeProblem(ak);
  const akCheck: Check =
    problem === null
      ? { name: 'host.ak_activated', status: 'skipped', detail: 'waiting for ActivateCredential' }
      : { name: 'host.ak_activated', status: 'fail', code: 'AK_ATTRIBUTES_INVALID', detail: problem };
  // A TPM refused only for its root's class (--require-hardware-tpm) still enrols: every verdict
  // then names EK_ROOT_NOT_HARDWARE in host.ek_certificate, which keeps it below L1.
  const ekRefused = ekCheck.status === 'fail' && ekCheck.code !== 'EK_ROOT_NOT_HARDWARE';
  if (ekRefused || akCheck.status === 'fail') {
    reject(ctx, [ekCheck, akCheck]);
    return;
  }
  const akName = tpmName(ak);
  const secret = new Uint8Array(randomBytes(32));
  let file: Uint8Array;
  try {
    file = makeCredential(ek, akName, secret).file;
  } catch (cause) {
    if (!(cause instanceof CoreError)) throw cause;
    throw new VerifierError('BODY_MALFORMED', `ekPublic: ${cause.message}`, { cause });
  }
  ctx.attest.pending.set(agent, {
    secret,
    ekPublic: ekBytes,
    akPublic: akBytes,
    akName,
    ekCheck,
    tpm,
    ekCertificate: typeof cert === 'string' ? cert : null,
    pcr,
    expires: ctx.attest.now() + ctx.attest.challengeTtlMs,
  });
  ctx.log.info('ak_enrolment_started', { agent, akName: toHex(akName), tpmRoot: tpm.root });
  sendJson(ctx.res, 200, { agent, akName: toHex(akName), challenge: toBase64Url(file) });
}

/**
 * POST /v1/attest/activate {agent, secret}: the secret ActivateCredential recovered. Only a TPM
 * holding both the certified EK and the AK can; the AK is then the agent's (replacing an earlier
 * one on the same EK: the agent restarted on the same TPM). An AK on another EK (another TPM)
 * replaces the agent's only once the operator allowed it (`tmb verifier allow-ak`), and uses up
 * that permission; it starts the clock and measurement-log state afresh.
 * 403 ACTIVATION_FAILED for a wrong secret or no pending enrolment; 409 AK_REPLACEMENT_REFUSED
 * for another TPM's AK without the operator's permission (the pending enrolment is dropped).
 */
export async function activateAk(ctx: Context): Promise<void> {
  const { agent, body } = await agentRequest(ctx);
  await ctx.attest.lock.run(agent, () => activateLocked(ctx, agent, body)); // lock.ts
}

async function activateLocked(ctx: Context, agent: string, body: Record<string, unknown>): Promise<void> {
  const secret = bytesField(body, 'secret', 256);
  const p = ctx.attest.pending.get(agent);
  if (p === undefined || p.expires <= ctx.attest.now())
    throw new VerifierError('ACTIVATION_FAILED', 'no AK enrolment of this agent is waiting for activation');
  ctx.attest.pending.delete(agent);
  if (secret.length !== p.secret.length || !timingSafeEqual(secret, p.secret))
    throw new VerifierError(
      'ACTIVATION_FAILED',
      'the secret is not the one MakeCredential sealed to this EK and AK',
    );
  const before = await loadAttest(ctx.store, agent);
  const sameEk = before !== undefined && before.ekPublic === toBase64Url(p.ekPublic);
  // A token is enough to move an agent's name onto another TPM only with the operator's word:
  // else whoever holds the token (any root process on the host) could swap in a TPM it controls.
  if (before !== undefined && !sameEk && !(await ctx.store.takeAkAllowance(agent)))
    throw new VerifierError(
      'AK_REPLACEMENT_REFUSED',
      `agent ${JSON.stringify(agent)} already has an AK on another TPM (EK); an operator must run "tmb verifier allow-ak --agent ${agent}" to let its next activation replace it`,
    );
  const sameTpm = sameEk && before.pcr === p.pcr;
  await saveAttest(ctx.store, agent, {
    ekPublic: toBase64Url(p.ekPublic),
    ekCheck: p.ekCheck,
    tpm: p.tpm,
    ekCertificate: p.ekCertificate ?? null,
    akPublic: toBase64Url(p.akPublic),
    akName: toHex(p.akName),
    activatedAt: ctx.attest.now(),
    pcr: p.pcr,
    clock: sameTpm ? before.clock : null,
    ima: sameTpm ? before.ima : null,
    bound: before?.bound ?? [],
    checkpointKeys: before?.checkpointKeys ?? [],
    checkpoint: before?.checkpoint ?? null,
    checks: before?.checks ?? [],
    quote: before?.quote ?? null,
    acceptedAt: before?.acceptedAt ?? null,
  });
  ctx.log.info('ak_activated', { agent, akName: toHex(p.akName), newTpm: before !== undefined && !sameEk });
  sendJson(ctx.res, 200, { agent, akName: toHex(p.akName) });
}
