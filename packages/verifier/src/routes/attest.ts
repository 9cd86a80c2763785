// The TPM attestation endpoints, POST /v1/attest/... (docs/evidence.md): AK enrolment and
// activation, the checkpoint key, nonces and evidence. The work is done in attest/.

import { CoreError } from '@tmb/core';
import { parseTpm2bPublic, type TpmPublic } from '@tmb/core/tpm';
import { type CheckpointKeyRequest, certifyCheckpointKey } from '../attest/ckey.ts';
import { activateAk, startAkEnrolment } from '../attest/enrol.ts';
import { acceptEvidence, issueNonce } from '../attest/intake.ts';
import { evidenceRefusal } from '../attest/runs.ts';
import { VerifierError } from '../errors.ts';
import { bytesField, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { observeEvidence } from '../metrics.ts';
import type { Context } from './context.ts';
import { evidenceOf, MAX_EVIDENCE_BYTES } from './evidence-body.ts';
import { refuseChecks } from './refuse.ts';
import { attestBody } from './request.ts';

function tpmPublic(bytes: Uint8Array, what: string): TpmPublic {
  try {
    return parseTpm2bPublic(bytes);
  } catch (cause) {
    if (!(cause instanceof CoreError)) throw cause;
    throw new VerifierError('BODY_MALFORMED', `${what}: ${cause.code}: ${cause.message}`, { cause });
  }
}

/**
 * POST /v1/attest/enroll {agent, ekPublic, ekCertificate, akPublic, pcr} (attest/enrol.ts
 * startAkEnrolment): 200 `{agent, akName, challenge}`, a MakeCredential challenge; the AK is
 * trusted only after /v1/attest/activate returns the secret. 422 EVIDENCE_REJECTED names a
 * failed check.
 * @throws VerifierError TOKEN_INVALID | TOKEN_AGENT_MISMATCH | BODY_MALFORMED | BODY_TOO_LARGE
 */
export async function postAkEnrol(ctx: Context): Promise<void> {
  const { agent, body } = await attestBody(ctx);
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
  const certificate =
    typeof cert === 'string' ? { text: cert, der: bytesField(body, 'ekCertificate') } : null;
  const o = ctx.options;
  const r = await startAkEnrolment(
    ctx.attest,
    {
      intermediates: o.ekIntermediates,
      hardwareRoots: o.ekHardwareRoots,
      requireHardware: o.requireHardwareTpm,
    },
    agent,
    { ekBytes, akBytes, ek, ak, certificate, pcr },
  );
  if (!r.ok) {
    refuseChecks(ctx, r.checks);
    return;
  }
  ctx.log.info('ak_enrolment_started', { agent, akName: r.akName, tpmRoot: r.tpm.root });
  sendJson(ctx.res, 200, { agent, akName: r.akName, challenge: r.challenge });
}

/**
 * POST /v1/attest/activate {agent, secret}: the secret ActivateCredential recovered (attest/enrol.ts
 * activateAk). 200 `{agent, akName}`.
 * @throws VerifierError ACTIVATION_FAILED (403: wrong secret, none pending) | AK_REPLACEMENT_REFUSED (409)
 */
export async function postAkActivate(ctx: Context): Promise<void> {
  const { agent, body } = await attestBody(ctx);
  const secret = bytesField(body, 'secret', 256);
  const { akName, newTpm } = await activateAk(ctx.store, ctx.attest, agent, secret);
  ctx.log.info('ak_activated', { agent, akName, newTpm });
  sendJson(ctx.res, 200, { agent, akName });
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The members of a checkpoint-key request. @throws VerifierError BODY_MALFORMED */
function checkpointKeyRequest(body: Record<string, unknown>): CheckpointKeyRequest {
  const nonce = stringField(body, 'nonce', 64);
  const receiptKeyId = stringField(body, 'receiptKeyId', 64);
  if (!HEX64.test(nonce) || !HEX64.test(receiptKeyId))
    throw new VerifierError('BODY_MALFORMED', '"nonce" and "receiptKeyId" must be 64 lower-case hex digits');
  return {
    nonce,
    receiptKeyId,
    keyPublic: bytesField(body, 'keyPublic', 2048),
    certifyInfo: bytesField(body, 'certifyInfo', 2048),
    signature: bytesField(body, 'signature', 2048),
  };
}

/**
 * POST /v1/attest/checkpoint-key {agent, nonce, keyPublic, certifyInfo, signature, receiptKeyId}
 * (docs/evidence.md, "The checkpoint key"; attest/ckey.ts certifyCheckpointKey): 200
 * `{agent, keyName}`; 422 EVIDENCE_REJECTED names the failed checks; 409 AK_NOT_ENROLLED without
 * an activated AK; 409 CHECKPOINT_KEY_EXISTS when a key is already certified under this AK
 * activation in this boot.
 */
export async function postCheckpointKey(ctx: Context): Promise<void> {
  const { agent, body } = await attestBody(ctx);
  const r = await certifyCheckpointKey(ctx.store, ctx.attest, agent, () => checkpointKeyRequest(body));
  if (!r.ok) {
    refuseChecks(ctx, r.checks);
    return;
  }
  ctx.log.info('checkpoint_key_certified', { agent, keyName: r.keyName });
  sendJson(ctx.res, 200, { agent, keyName: r.keyName });
}

/**
 * POST /v1/attest/nonce {agent} (attest/evidence.ts issueNonce): a fresh single-use nonce for the
 * next quote and where the agent's evidence must start. 409 AK_NOT_ENROLLED without an activated AK.
 */
export async function postNonce(ctx: Context): Promise<void> {
  const { agent } = await attestBody(ctx);
  sendJson(ctx.res, 200, await issueNonce(ctx.store, ctx.attest, agent));
}

/**
 * POST /v1/attest/evidence: a quote over a checkpoint (docs/evidence.md; attest/evidence.ts
 * acceptEvidence). 200 `{ok: true, checks}` once every check passed; 422 EVIDENCE_REJECTED
 * `{error, checks}` naming the failed checks otherwise (the nonce is spent either way).
 */
export async function postEvidence(ctx: Context): Promise<void> {
  const { agent, body } = await attestBody(ctx, MAX_EVIDENCE_BYTES);
  const t0 = performance.now();
  const deps = {
    store: ctx.store,
    attest: ctx.attest,
    ...(ctx.telemetry ? { telemetry: ctx.telemetry.store } : {}),
    ...(ctx.host ? { refs: ctx.host.refs } : {}),
  };
  const outcome = await acceptEvidence(deps, agent, () => evidenceOf(body)).catch((error: unknown) => ({
    error,
  }));
  observeEvidence(ctx, agent, outcome, (performance.now() - t0) / 1000); // log and /metrics
  if ('error' in outcome) throw outcome.error;
  if (outcome.accepted) sendJson(ctx.res, 200, { ok: true, checks: outcome.checks });
  else sendJson(ctx.res, 422, evidenceRefusal(outcome.checks, outcome.run));
}
