import {
  agentKeyId,
  type CanonicalValue,
  type Check,
  CoreError,
  canonicalBytes,
  checkSignedReceipt,
  type Level,
  levelOf,
  minLevel,
  type ReceiptBody,
  receiptServed,
  sha256,
  toBase64Url,
  toHex,
} from '@tmb/core';
import {
  type Checkpoint,
  decodeConsistencyProof,
  decodeInclusionProof,
  ed25519NoteVerifier,
  logOrigin,
  openCheckpoint,
  parseNote,
  runOfCheckpoint,
  verifyCheckpointExtends,
  verifyReceiptInCheckpoint,
} from '@tmb/core/log';
import type { JWK } from 'jose';
import { ClientError } from '../errors.ts';
import { leafCheck, leafText } from '../inclusion.ts';
import type { ClientCheck } from '../types.ts';
import { keyBoundCheck } from './ckey.ts';
import { type DecodedEvidence, decodeBundle } from './decode.ts';
import { appLogCheck, hostChecks } from './host.ts';
import { Memo } from './memo.ts';
import { type BundleClaims, verifyBundleResult } from './result.ts';
import { iso, text } from './text.ts';
import { identityChecks, perVerifier, quoteChecks, tpmPublic } from './tpm.ts';
import type { Bundle } from './types.ts';

/** Options of verifyBundle. */
export interface VerifyBundleOptions {
  /** The verifier's result key (JWK, GET /v1/verifier-key), obtained out of band. Required. */
  verifierKey: JWK;
  /**
   * Trusted EK root CAs (PEM). Given, the EK certificate is chained here; left out,
   * `host.ek_certificate` is the verifier's word (`asserted`), so the level stays below L1.
   */
  ekRoots?: readonly string[];
  /** The EAR's expected `iss`. Default `tmb-verifier`. */
  issuer?: string;
  /** The time now. Given, a result issued after it (beyond 60 s) fails `verifier.result`. Left out: not checked (core reads no clock). */
  now?: Date;
  /** The receipt the caller asked for (a response header, a command line): `receipt.id` must name it. */
  receiptId?: string;
}

/** What verifyBundle concluded (docs/bundle.md). */
export interface BundleResult {
  receiptId: string | null;
  /** Recomputed here, and never above the level the verifier signed. */
  level: Level;
  /** True when no check failed and the verifier's signed verdict was ok. */
  ok: boolean;
  checks: ClientCheck[];
  /** The decoded receipt body, when it decoded. */
  body?: ReceiptBody;
}

const pass = (name: string, detail: string): ClientCheck => ({ name, status: 'pass', detail });
const skip = (name: string, detail: string): ClientCheck => ({ name, status: 'skipped', detail });

/**
 * Verifies an offline evidence bundle with no network (docs/bundle.md): the EAR under the
 * pinned verifier key and its digest of the evidence; the receipt's signature and the
 * verifier's signed enrolment of its key; the receipt's inclusion in the quoted checkpoint,
 * the checkpoint's signature and its consistency with the previous quoted one; the quote
 * (AK signature, qualifying data, clock, PCR digest), the AK name against the signed
 * activation record and the EK certificate against `ekRoots`; the agent's and the kernel's
 * measurement logs replayed to the quoted PCRs, the boot log to PCRs 0-9, and every kernel
 * entry judged by the bundle's policy and registry. Telemetry stays the verifier's word.
 * Never throws for a bad bundle: every failure is a named check.
 */
export async function verifyBundle(value: unknown, options: VerifyBundleOptions): Promise<BundleResult> {
  let decoded: { bundle: Bundle; bytes: DecodedEvidence };
  try {
    decoded = decodeBundle(value);
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    const checks: ClientCheck[] = [
      { name: 'bundle.format', status: 'fail', code: err.code, detail: err.message },
    ];
    return { receiptId: null, level: 'none', ok: false, checks };
  }
  const { bundle, bytes: b } = decoded;
  const e = bundle.evidence;
  const checks: ClientCheck[] = [pass('bundle.format', 'bundle v1: every member present and well-formed')];
  const r = await verifyBundleResult(
    bundle.result,
    options.verifierKey,
    options.issuer ?? 'tmb-verifier',
    options.now,
  );
  checks.push(r.check);
  const claims = r.claims;
  if (claims === null) return done(checks, null, null);
  let evidenceDigest: string;
  try {
    evidenceDigest = toHex(sha256(canonicalBytes(e as unknown as CanonicalValue)));
  } catch {
    evidenceDigest = '';
  }
  checks.push(
    claims.evidenceSha256 === evidenceDigest
      ? pass('verifier.evidence', `the EAR signs this evidence: SHA-256 ${evidenceDigest.slice(0, 16)}…`)
      : {
          name: 'verifier.evidence',
          status: 'fail',
          code: 'RESULT_INVALID',
          detail:
            typeof claims.evidenceSha256 === 'string'
              ? `the EAR signs evidence ${claims.evidenceSha256.slice(0, 16)}…, the bundle's is ${evidenceDigest.slice(0, 16) || 'not canonical JSON'}…`
              : 'the EAR has no tmb.evidence-sha256 claim',
        },
  );
  // L0: the receipt, its key and the verifier's signed enrolment of that key.
  const own = checkSignedReceipt(e.receipt, (id) => (agentKeyId(b.agentKey) === id ? b.agentKey : undefined));
  checks.push(...own.checks);
  const body = own.body;
  if (body === null) return done(checks, claims, null);
  const asked = options.receiptId;
  const mismatch = (detail: string): ClientCheck => ({
    name: 'receipt.id',
    status: 'fail',
    code: 'RECEIPT_ID_MISMATCH',
    detail,
  });
  checks.push(
    body.id !== claims.receiptId
      ? mismatch(`the EAR names ${claims.receiptId}, the bundle carries ${body.id}`)
      : asked !== undefined && asked !== body.id
        ? mismatch(`asked for ${asked}, the bundle is of ${body.id}`)
        : pass(
            'receipt.id',
            `receipt ${body.id} is the one the EAR names${asked === undefined ? '' : ' and the one asked for'}`,
          ),
    enrolment(claims, body, toBase64Url(b.agentKey)),
  );
  // L1: identity, quote, logs, checkpoint, inclusion, host.
  const id = identityChecks(e, b, claims, options.ekRoots);
  const q = quoteChecks(b, e, id.akName);
  checks.push(...id.checks, ...q.checks);
  const resetCount = q.attest?.clockInfo.resetCount ?? 0;
  const appPcr = q.pcrs?.get(e.appLog.pcr);
  const app =
    appPcr === undefined
      ? {
          check: skip('log.replay', 'no verified PCR value to replay to'),
          bound: new Set<string>() as ReadonlySet<string>,
        }
      : appLogCheck(b, e, appPcr, resetCount);
  checks.push(app.check);
  const cp = checkpoints.get(JSON.stringify([e.inclusion.checkpoint, e.checkpointKey, body.agent]), () =>
    checkpointCheck(e.inclusion.checkpoint, b.checkpointKey, body.agent),
  );
  checks.push(
    keyBoundCheck({
      member: e.tpmKey,
      note: e.inclusion.checkpoint,
      agent: body.agent,
      checkpointKey: b.checkpointKey,
      akPublic: akOf(e, b),
      akText: e.ak.public,
      resetCount: q.attest?.clockInfo.resetCount ?? null,
    }),
    { ...cp.check },
    included(own.bytes!, body, e.inclusion.proof, cp.checkpoint),
    {
      ...consistency.get(
        JSON.stringify([e.previous, e.inclusion.checkpoint, e.checkpointKey, body.agent]),
        () => consistent(e, b, body.agent, cp.checkpoint),
      ),
    },
  );
  if (q.pcrs !== null && cp.checkpoint !== null)
    checks.push(
      ...hostChecks(
        b,
        e,
        q.pcrs,
        resetCount,
        seqEnd(cp.checkpoint),
        body.model.requested,
        receiptServed(body)?.weights ?? null,
      ).checks,
    );
  else
    checks.push(
      skip('host.integrity', 'no verified PCR 10 and checkpoint to appraise against'),
      skip('host.boot', 'no verified PCRs 0-9 to appraise against'),
    );
  // L2: telemetry is judged from samples only the verifier holds.
  checks.push(perVerifier(claims, 'telemetry.consistent', 'telemetry samples are not in the bundle'));
  return done(checks, claims, body);
}

function done(checks: ClientCheck[], claims: BundleClaims | null, body: ReceiptBody | null): BundleResult {
  let level = levelOf(checks as Check[]);
  // Never above what the verifier signed: it may hold facts the bundle does not (a boot policy
  // loaded later, a telemetry failure); an unknown signed level caps at none.
  if (claims !== null) {
    const signed = ['none', 'L0', 'L1', 'L2', 'L3'].includes(claims.level as string)
      ? (claims.level as Level)
      : 'none';
    level = minLevel(level, signed);
  }
  const signedOk = claims === null || claims.ok === undefined || claims.ok === true;
  return {
    receiptId: body?.id ?? claims?.receiptId ?? null,
    level,
    ok: signedOk && checks.every((c) => c.status !== 'fail'),
    checks,
    ...(body ? { body } : {}),
  };
}

function enrolment(claims: BundleClaims, body: ReceiptBody, agentKey: string): ClientCheck {
  const name = 'agent.enrolled';
  const en = claims.enrolment as Record<string, unknown> | null | undefined;
  if (typeof en === 'object' && en !== null) {
    if (en.agent !== body.agent || en.keyId !== body.key)
      return {
        name,
        status: 'fail',
        code: 'AGENT_KEY_NOT_ENROLLED',
        detail: `the verifier signed the enrolment of key ${text(en.keyId).slice(0, 16)}… for ${JSON.stringify(en.agent)}, the receipt names ${body.key.slice(0, 16)}… of ${JSON.stringify(body.agent)}`,
      };
    if (typeof claims.agentKey === 'string' && claims.agentKey !== agentKey)
      return {
        name,
        status: 'fail',
        code: 'AGENT_KEY_NOT_ENROLLED',
        detail: "the enrolled key the verifier signed is not the bundle's agentKey",
      };
    return pass(
      name,
      `per the verifier's signed enrolment: key ${body.key.slice(0, 16)}… enrolled for "${body.agent}" at ${iso(en.enrolledAt)}`,
    );
  }
  // Older results: the signed verdict's own agent.enrolled (signed, so the verifier's word).
  const c = claims.checks.find((x) => (x as Check | null)?.name === name) as Check | undefined;
  if (c?.status === 'pass') return pass(name, `per the verifier's signed verdict: ${text(c.detail)}`);
  return {
    name,
    status: 'fail',
    code: 'AGENT_KEY_NOT_ENROLLED',
    detail: "the EAR signs no enrolment of the receipt's key",
  };
}

function checkpointCheck(
  note: string,
  key: Uint8Array,
  agent: string,
): { check: ClientCheck; checkpoint: Checkpoint | null } {
  const name = 'checkpoint.signature';
  const origin = logOrigin(agent);
  let opened: ReturnType<typeof openCheckpoint>;
  try {
    opened = openCheckpoint(note, [noteVerifier(origin, key)], origin);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { check: { name, status: 'fail', code: err.code, detail: err.message }, checkpoint: null };
  }
  if (!opened.ok)
    return { check: { name, status: 'fail', code: opened.code, detail: opened.detail }, checkpoint: null };
  const keyId = key.length === 32 ? agentKeyId(key) : '';
  return {
    check: pass(
      name,
      `checked here: checkpoint of size ${opened.checkpoint.size} of ${origin} signed by agent key ${keyId.slice(0, 16)}…`,
    ),
    checkpoint: opened.checkpoint,
  };
}

function included(
  bytes: Uint8Array,
  body: ReceiptBody,
  proofJson: unknown,
  cp: Checkpoint | null,
): ClientCheck {
  const name = 'receipt.included';
  if (cp === null) return skip(name, 'no verified checkpoint');
  try {
    const proof = decodeInclusionProof(proofJson);
    const leaf = leafCheck(body.seq, proof, cp);
    if (leaf !== null) return leaf;
    const r = verifyReceiptInCheckpoint(bytes, proof, cp);
    return r.ok
      ? pass(name, `checked here: ${leafText(body.seq, cp)} of the quoted checkpoint of size ${cp.size}`)
      : { name, status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { name, status: 'fail', code: err.code, detail: err.message };
  }
}

function consistent(
  e: Bundle['evidence'],
  b: DecodedEvidence,
  agent: string,
  cp: Checkpoint | null,
): ClientCheck {
  const name = 'checkpoint.consistent';
  if (cp === null) return skip(name, 'no verified checkpoint');
  if (e.previous === null) return pass(name, 'the first quoted checkpoint of this agent, per the verifier');
  const origin = logOrigin(agent);
  try {
    // Exactly one signature line, the agent key's: no bytes the bundle cannot check.
    if (parseNote(e.previous.checkpoint).signatures.length !== 1)
      return {
        name,
        status: 'fail',
        code: 'NOTE_MALFORMED',
        detail: 'the previous quoted checkpoint must carry exactly one signature, by previous.key',
      };
    const prev = openCheckpoint(e.previous.checkpoint, [noteVerifier(origin, b.previousKey!)], origin);
    if (!prev.ok)
      return {
        name,
        status: 'fail',
        code: prev.code,
        detail: `the previous quoted checkpoint: ${prev.detail}`,
      };
    // A checkpoint is never consistency-checked against another log run's (docs/evidence.md).
    const [pr, cr] = [runOfCheckpoint(prev.checkpoint), runOfCheckpoint(cp)];
    if (pr.run !== cr.run || pr.base !== cr.base)
      return {
        name,
        status: 'fail',
        code: 'CONSISTENCY_PROOF_INVALID',
        detail: `the previous quoted checkpoint is of log run ${pr.run}, this one of run ${cr.run}: runs do not extend each other`,
      };
    const r = verifyCheckpointExtends(prev.checkpoint, cp, decodeConsistencyProof(e.previous.proof));
    return r.ok
      ? pass(name, `checked here: size ${prev.checkpoint.size} -> ${cp.size}: ${r.detail}`)
      : { name, status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { name, status: 'fail', code: err.code, detail: err.message };
  }
}

/** The AK's parsed public area (shared per host), or its bytes for core to name the problem. */
function akOf(e: Bundle['evidence'], b: DecodedEvidence) {
  try {
    return tpmPublic(e.ak.public);
  } catch {
    return b.akPublic;
  }
}

// A quote's checkpoint, opened, and its consistency with the previous one, by their exact text.
const checkpoints = new Memo<{ check: ClientCheck; checkpoint: Checkpoint | null }>(64, 'quote');
const consistency = new Memo<ClientCheck>(64, 'quote');

// Ed25519 note verifiers by origin and key: an agent start signs all its checkpoints with one key.
const noteVerifiers = new Memo<ReturnType<typeof ed25519NoteVerifier>>(64);

function noteVerifier(origin: string, key: Uint8Array) {
  return noteVerifiers.get(`${origin} ${toBase64Url(key)}`, () => ed25519NoteVerifier(origin, key));
}

/** The seq after the last receipt a checkpoint covers: its run's base plus its size (host segments). */
function seqEnd(cp: Checkpoint): number {
  try {
    return runOfCheckpoint(cp).base + cp.size;
  } catch {
    return cp.size; // receipt.included already fails LOG_RUN_LINE_INVALID
  }
}
