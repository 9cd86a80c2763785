import { type Check, CoreError, fromBase64Url, L1_CHECKS, type ReceiptBody } from '@tmb/core';
import {
  type Checkpoint,
  decodeInclusionProof,
  ed25519NoteVerifier,
  type InclusionProof,
  logOrigin,
  openCheckpoint,
  runOfCheckpoint,
  verifyReceiptInCheckpoint,
} from '@tmb/core/log';
import { type CheckpointKeyMember, checkpointNoteVerifier, verifyCheckpointKey } from '@tmb/core/tpm';
import type { ClientCheck } from './types.ts';

/** The verifier's `attestation` member of a receipt answer (docs/api.md), untrusted. */
export interface AnswerAttestation {
  checkpoint: string;
  checkpointKey: string | null;
  /** The TPM-held checkpoint key and its certification by the AK (absent from older verifiers). */
  tpmKey?: CheckpointKeyMember | null;
  /** The AK's TPM2B_PUBLIC, base64url. */
  akPublic?: string;
  proof: unknown;
}

/**
 * The L1 checks of a client result, when the verifier's verdict has them: each is the
 * verifier's ("per the verifier"), except `receipt.included`, which the client checks itself
 * when the answer carries the quoted checkpoint and an inclusion proof: the checkpoint's
 * signature under the key given, its origin `tmb/agent/<agent>`, and the proof of the exact
 * receipt body bytes against its root. An answer without L1 checks adds none.
 */
export function l1ClientChecks(
  verdictChecks: readonly unknown[],
  body: ReceiptBody,
  bodyBytes: Uint8Array,
  attestation: AnswerAttestation | undefined,
): ClientCheck[] {
  const theirs = new Map<string, Check>();
  for (const c of verdictChecks) {
    const x = c as Check;
    if (typeof x === 'object' && x !== null && (L1_CHECKS as readonly string[]).includes(x.name))
      theirs.set(x.name, x);
  }
  if (theirs.size === 0) return [];
  return L1_CHECKS.map((name): ClientCheck => {
    if (name === 'receipt.included' && attestation !== undefined)
      return included(body, bodyBytes, attestation);
    const c = theirs.get(name);
    if (c === undefined)
      return {
        name,
        status: 'fail',
        code: 'VERIFIER_ANSWER_INVALID',
        detail: `the verdict has no ${name} check`,
      };
    const detail = `per the verifier: ${String(c.detail)}`;
    return c.status === 'fail'
      ? { name, status: 'fail', ...(c.code ? { code: c.code } : {}), detail }
      : { name, status: c.status, detail };
  });
}

function included(body: ReceiptBody, bytes: Uint8Array, a: AnswerAttestation): ClientCheck {
  const name = 'receipt.included';
  const origin = logOrigin(body.agent);
  try {
    if (typeof a.checkpoint !== 'string' || typeof a.checkpointKey !== 'string')
      throw new CoreError('CHECKPOINT_MALFORMED', 'no checkpoint or key in the answer');
    // The TPM-held key the AK certified for this receipt's key, when the answer names one (issue 9).
    const tpm = a.tpmKey;
    if (tpm != null) {
      const c = verifyCheckpointKey(tpm, { akPublic: fromBase64Url(String(a.akPublic)), agent: body.agent });
      const bad = c.checks.find((x) => x.status === 'fail');
      if (bad !== undefined)
        return { name, status: 'fail', code: bad.code, detail: `checkpoint key: ${bad.detail}` };
      if (tpm.certify.receiptKeyId !== body.key)
        return {
          name,
          status: 'fail',
          code: 'KEY_NOT_BOUND',
          detail: 'the TPM checkpoint key was certified for another receipt key',
        };
    }
    const opened = openCheckpoint(
      a.checkpoint,
      [
        tpm != null
          ? checkpointNoteVerifier(origin, tpm)
          : ed25519NoteVerifier(origin, fromBase64Url(a.checkpointKey)),
      ],
      origin,
    );
    if (!opened.ok) return { name, status: 'fail', code: opened.code, detail: opened.detail };
    const proof = decodeInclusionProof(a.proof);
    const leaf = leafCheck(body.seq, proof, opened.checkpoint);
    if (leaf !== null) return leaf;
    const r = verifyReceiptInCheckpoint(bytes, proof, opened.checkpoint);
    return r.ok
      ? {
          name,
          status: 'pass',
          detail: `checked here: ${leafText(body.seq, opened.checkpoint)} of the quoted checkpoint of size ${opened.checkpoint.size}`,
        }
      : { name, status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { name, status: 'fail', code: err.code, detail: err.message };
  }
}

/**
 * Whether `proof` is for the leaf of receipt `seq` in `cp`'s log run: index = seq - base, base
 * from the checkpoint's `tmb-run` line (absent: 0; docs/proofs.md, "Log runs"). Null when it is;
 * else the failed `receipt.included` (INCLUSION_PROOF_INVALID, or LOG_RUN_LINE_INVALID for a
 * malformed run line).
 */
export function leafCheck(seq: number, proof: InclusionProof, cp: Checkpoint): ClientCheck | null {
  const name = 'receipt.included';
  let base: number;
  try {
    base = runOfCheckpoint(cp).base;
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { name, status: 'fail', code: err.code, detail: err.message };
  }
  if (proof.index === seq - base) return null;
  return {
    name,
    status: 'fail',
    code: 'INCLUSION_PROOF_INVALID',
    detail:
      seq < base
        ? `the receipt is #${seq}, before the checkpoint's log run, which starts at seq ${base}`
        : `proof is for leaf ${proof.index}, the receipt is #${seq}${base > 0 ? ` (leaf ${seq - base} of a run from seq ${base})` : ''}`,
  };
}

/** "leaf N", with the run when the checkpoint is of a run >= 1 (the detail of a pass). */
export function leafText(seq: number, cp: Checkpoint): string {
  const r = runOfCheckpoint(cp);
  return r.run === 0 ? `leaf ${seq}` : `leaf ${seq - r.base} (log run ${r.run}, from seq ${r.base})`;
}
