import type { ReceiptBody } from '@tmb/core';
import {
  encodeInclusionProof,
  type InclusionProofJson,
  logOrigin,
  verifyReceiptInCheckpoint,
} from '@tmb/core/log';
import type { CheckpointKeyMember } from '@tmb/core/tpm';
import { checkpointKeyMember } from '../attest/ckey.ts';
import { reopenQuoted } from '../attest/quoted.ts';
import type { SeqPlace } from '../attest/runs.ts';
import type { AgentAttest, CertifiedKey } from '../attest/state.ts';
import type { Trees } from '../attest/trees.ts';
import { MAX_BOOTS } from '../bundle/archive.ts';
import type { Store, StoredReceipt } from '../store/types.ts';
import type { Outcome } from './checks.ts';

/** What a receipt answer carries so that a client can check inclusion itself (docs/api.md). */
export interface Attestation {
  /** The quoted checkpoint note covering the receipt. */
  checkpoint: string;
  /** base64url raw Ed25519 key that signed the checkpoint (enrolled for the agent: the receipt key). */
  checkpointKey: string | null;
  /**
   * The TPM-held key that co-signed the checkpoint, with its certification by the AK
   * (core checkpointNoteVerifier / verifyCheckpointKey re-check it offline); null when the
   * quoted checkpoint carries none (rows from before issue 9).
   */
  tpmKey: CheckpointKeyMember | null;
  /** Inclusion proof of the receipt (leaf = body bytes) in that checkpoint (docs/proofs.md). */
  proof: InclusionProofJson;
  /** The TPM quote over the checkpoint and its nonce, base64url / hex. */
  quote: { attest: string; signature: string; pcrs: string; nonce: string };
  akPublic: string;
  pcr: number;
}

/** The clock and deadline L1 checks are judged by (AttestService's). */
export interface Deadline {
  /** The clock, Unix ms. */
  now: () => number;
  /** How long after its end a receipt may stay uncovered by a quote (VerifierOptions.inclusionDeadlineMs). */
  inclusionDeadlineMs: number;
}

/**
 * When the inclusion deadline of a receipt falls (Unix ms): inclusionDeadlineMs after its end, or
 * after it reached the verifier if that is earlier: `time.end` is the agent's word, and a
 * provider that dated its receipts in the future must not keep them pending (and `ok`) for longer.
 */
export function dueOf(d: Deadline, stored: StoredReceipt, body: ReceiptBody): number {
  return Math.min(Math.floor(body.time.end / 1000), stored.receivedAt) + d.inclusionDeadlineMs;
}

/**
 * `receipt.included` of a receipt no accepted quote covers yet: pending until the inclusion
 * deadline (dueOf), then failed RECEIPT_NOT_INCLUDED.
 */
function uncovered(d: Deadline, body: ReceiptBody, due: number, late: boolean, size: number | null): Outcome {
  const where = `latest quoted size ${size ?? 'none'}`;
  if (!late)
    return {
      status: 'asserted',
      detail: `pending: receipt #${body.seq} is not yet covered by a quoted checkpoint (${where}); due by ${new Date(due).toISOString()}`,
    };
  return {
    status: 'fail',
    code: 'RECEIPT_NOT_INCLUDED',
    detail: `no accepted quote covered receipt #${body.seq} within ${d.inclusionDeadlineMs} ms of its end (${where}): the agent's quotes stopped or leave it out`,
  };
}

/** Where the receipt stands against the quoted checkpoint of its log run (l1.ts). */
export interface Coverage {
  place: SeqPlace;
  cp: AgentAttest['checkpoint'];
  quote: AgentAttest['quote'];
  run: { run: number; base: number };
  covered: boolean;
  late: boolean;
  due: number;
}

/**
 * `receipt.included`: an inclusion proof of the stored body bytes in the quoted checkpoint of
 * the receipt's log run, built from the verifier's own tree of the agent's receipts, with the
 * attestation a client re-checks it by. Fails RECEIPT_LOG_RUN_ENDED when its run ended without
 * it or was folded (attest/state.ts, MAX_ENDED_RUNS), RECEIPT_NOT_INCLUDED past the deadline,
 * RECEIPTS_MISSING when the tree lacks receipts.
 */
export async function includedCheck(
  o: {
    store: Pick<Store, 'getKey'>;
    trees: Pick<Trees, 'grow' | 'inclusionProof'>;
    deadline: Deadline;
    state: AgentAttest;
    tpmKey: CertifiedKey | undefined;
  },
  stored: StoredReceipt,
  body: ReceiptBody,
  at: Coverage,
): Promise<{ check: Outcome; attestation?: Attestation }> {
  const { cp, quote, run } = at;
  if (at.place.kind === 'left') {
    const e = at.place.ended;
    return {
      check: {
        status: 'fail',
        code: 'RECEIPT_LOG_RUN_ENDED',
        detail: `receipt #${body.seq} is in log run ${e.run} (seqs ${e.base} to ${e.end - 1}), which ended before a quote covered it (covered below seq ${e.covered}): ${e.reason}`,
      },
    };
  }
  if (at.place.kind === 'folded') return { check: foldedCheck(body, at.place) };
  if (!at.covered || cp === null || quote === null)
    return { check: uncovered(o.deadline, body, at.due, at.late, cp?.size ?? null) };
  const held = await o.trees.grow(stored.agent, run, cp.size);
  // The quoted note as signed (extension lines included), opened again under its key.
  const key = (await o.store.getKey(cp.keyId))?.key;
  const opened = reopenQuoted(cp.note, key, logOrigin(stored.agent));
  if (!opened.ok) return { check: { status: 'fail', code: opened.code, detail: opened.detail } };
  if (held < cp.size)
    return {
      check: {
        status: 'fail',
        code: 'RECEIPTS_MISSING',
        detail: `the verifier holds fewer than ${cp.size} receipts of this agent from seq ${run.base}`,
      },
    };
  // Leaf index = seq - base of the receipt's run (docs/proofs.md).
  const proof = await o.trees.inclusionProof(stored.agent, run, body.seq - run.base, cp.size);
  const r = verifyReceiptInCheckpoint(stored.body, proof, opened.checkpoint);
  // A folded run's receipt judged from the archive: the quote's own AK, PCR and TPM key.
  const archived = at.place.kind === 'ended' ? at.place.archived : undefined;
  const from = archived === undefined ? '' : ' (a folded log run: its archived quote)';
  const check: Outcome = r.ok
    ? {
        status: 'pass',
        detail: `leaf ${body.seq - run.base} of the quoted checkpoint of size ${cp.size}${run.run > 0 ? ` (log run ${run.run}, from seq ${run.base})` : ''}${from}`,
      }
    : { status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
  const tpmKey =
    archived !== undefined ? (archived.tpmKey ?? null) : o.tpmKey && checkpointKeyMember(o.tpmKey);
  return {
    check,
    attestation: {
      checkpoint: cp.note,
      checkpointKey: key === undefined ? null : Buffer.from(key).toString('base64url'),
      tpmKey: tpmKey ?? null,
      proof: encodeInclusionProof(proof),
      quote,
      akPublic: archived?.akPublic ?? o.state.akPublic,
      pcr: archived?.pcr ?? o.state.pcr,
    },
  };
}

/**
 * `receipt.included` of a receipt of a folded run that no archived quote covers (placeFolded):
 * RECEIPT_LOG_RUN_ENDED, saying whether the archive holds every quote around it (none covered
 * it) or no longer does (retention: whether one covered it is no longer known).
 */
function foldedCheck(body: ReceiptBody, place: Extract<SeqPlace, { kind: 'folded' }>): Outcome {
  const f = place.folded;
  const which = `${f.runs === 1 ? 'the oldest ended log run' : `one of the ${f.runs} oldest ended log runs`} (runs ${f.first} to ${f.last}, seqs ${f.base} to ${f.end - 1}), folded`;
  const why =
    place.archive === 'uncovered'
      ? 'no quote archived here covered it before its run ended'
      : `the quotes that could have covered it are no longer archived here (the archive keeps the newest ${MAX_BOOTS} boots): whether a quote covered it is no longer known`;
  return {
    status: 'fail',
    code: 'RECEIPT_LOG_RUN_ENDED',
    detail: `receipt #${body.seq} is in ${which}: ${why}`,
  };
}
