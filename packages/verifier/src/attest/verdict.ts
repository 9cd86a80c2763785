import { type Check, L1_CHECKS, type ReceiptBody, type VerdictTpm } from '@tmb/core';
import { type HostSegment, segmentFor } from '@tmb/core/host';
import { encodeInclusionProof, type InclusionProofJson, verifyReceiptInCheckpoint } from '@tmb/core/log';
import type { CheckpointKeyMember } from '@tmb/core/tpm';
import type { Store, StoredReceipt } from '../store/types.ts';
import { checkpointKeyMember } from './ckey.ts';
import { logOrigin } from './evidence.ts';
import { reopenQuoted } from './quoted.ts';
import { currentRun, runOfSeq } from './runs.ts';
import type { AttestService } from './service.ts';
import { loadAttest } from './state.ts';

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

const PASS_THROUGH = [
  'quote.signature',
  'quote.nonce',
  'quote.clock',
  'quote.pcr_digest',
  'log.replay',
  'checkpoint.signature',
  'checkpoint.consistent',
];

/**
 * When the inclusion deadline of a receipt falls (Unix ms): attest.inclusionDeadlineMs after its
 * end, or after it reached the verifier if that is earlier: `time.end` is the agent's word, and a
 * provider that dated its receipts in the future must not keep them pending (and `ok`) for longer.
 */
function dueOf(attest: AttestService, stored: StoredReceipt, body: ReceiptBody): number {
  return Math.min(Math.floor(body.time.end / 1000), stored.receivedAt) + attest.inclusionDeadlineMs;
}

/**
 * `receipt.included` of a receipt no accepted quote covers yet: pending until the inclusion
 * deadline (dueOf), then failed RECEIPT_NOT_INCLUDED.
 */
function uncovered(
  attest: AttestService,
  body: ReceiptBody,
  due: number,
  late: boolean,
  size: number | null,
): Check {
  const where = `latest quoted size ${size ?? 'none'}`;
  if (!late)
    return {
      name: 'receipt.included',
      status: 'asserted',
      detail: `pending: receipt #${body.seq} is not yet covered by a quoted checkpoint (${where}); due by ${new Date(due).toISOString()}`,
    };
  return {
    name: 'receipt.included',
    status: 'fail',
    code: 'RECEIPT_NOT_INCLUDED',
    detail: `no accepted quote covered receipt #${body.seq} within ${attest.inclusionDeadlineMs} ms of its end (${where}): the agent's quotes stopped or leave it out`,
  };
}

/**
 * The L1 checks of a receipt of an agent with no activated AK: the verifier cannot tell an agent
 * whose TPM is not enrolled yet from one without a TPM, so until the inclusion deadline they are
 * pending (`asserted`, detail `pending:`: clients that wait for a quote wait), then skipped: the
 * agent has no TPM attestation for this receipt, which a TPM-less (L0) deployment legitimately
 * has not. An AK activated later brings the ordinary checks back (l1Checks), whose quotes either
 * cover the receipt or fail it RECEIPT_NOT_INCLUDED.
 */
function withoutAk(attest: AttestService, stored: StoredReceipt, body: ReceiptBody): Check[] {
  const due = dueOf(attest, stored, body);
  if (attest.now() < due) {
    const waiting = attest.pending.has(stored.agent) ? ': its AK enrolment awaits activation' : '';
    const detail = `pending: the agent's TPM is not enrolled yet (no activated AK${waiting}); due by ${new Date(due).toISOString()}`;
    return L1_CHECKS.map((name): Check => ({ name, status: 'asserted', detail }));
  }
  const detail = `the agent has no TPM attestation for this receipt: no AK was activated within ${attest.inclusionDeadlineMs} ms of its end`;
  return L1_CHECKS.map((name): Check => ({ name, status: 'skipped', detail }));
}

/**
 * The L1 checks of one stored receipt, in L1_CHECKS order (docs/result.md), recomputed on each
 * read: host checks from the AK enrolment, quote and log checks from the evidence that quoted the
 * agent's latest checkpoint, `key.bound` for the receipt's own key, and `receipt.included` by
 * an inclusion proof of the stored body bytes against that checkpoint's root (failed
 * RECEIPT_NOT_INCLUDED when no quote covered the receipt by attest.inclusionDeadlineMs).
 */
export async function l1Checks(
  store: Store,
  attest: AttestService,
  stored: StoredReceipt,
  body: ReceiptBody | null,
): Promise<{
  checks: Check[];
  attestation?: Attestation;
  segment?: HostSegment;
  tpm?: VerdictTpm;
  /** True when the agent has no activated AK (the checks come from withoutAk). */
  noAk?: true;
}> {
  const all = (status: 'skipped', detail: string) => ({
    checks: L1_CHECKS.map((name): Check => ({ name, status, detail })),
  });
  if (body === null) return all('skipped', 'the body does not decode');
  const state = await loadAttest(store, stored.agent);
  // No activated AK (yet): pending L1 checks until the deadline, then skipped (withoutAk).
  if (state === undefined) return { checks: withoutAk(attest, stored, body), noAk: true };
  const byName = new Map<string, Check>();
  byName.set('host.ek_certificate', state.ekCheck);
  byName.set('host.ak_activated', {
    name: 'host.ak_activated',
    status: 'pass',
    detail: `AK ${state.akName.slice(0, 20)}… activated on the certified EK at ${new Date(state.activatedAt).toISOString()}`,
  });
  // The log run of the receipt (docs/evidence.md, "Log runs and recovery"): the current one, or
  // an ended one whose last accepted checkpoint covers it, or an ended one that left it behind.
  const place = runOfSeq(state, body.seq);
  const cp = place.kind === 'ended' ? place.ended.checkpoint : state.checkpoint;
  const quote = place.kind === 'ended' ? place.ended.quote : state.quote;
  const run = place.kind === 'ended' ? place.ended : currentRun(state);
  for (const name of PASS_THROUGH) {
    const c = cp === null ? undefined : state.checks.find((x) => x.name === name);
    byName.set(name, c ?? { name, status: 'skipped', detail: 'no quoted checkpoint of this agent yet' });
  }
  const covered = place.kind !== 'left' && cp !== null && body.seq - run.base < cp.size;
  // Uncovered and past hope: its log run ended without it, or the inclusion deadline passed.
  // Then the checks that wait for a quote are no longer pending (receipt.included says why).
  const due = dueOf(attest, stored, body);
  const late = !covered && (place.kind === 'left' || attest.now() >= due);
  // key.bound (docs/evidence.md, "The checkpoint key"): the receipt's key is the one a TPM key
  // certified by the AK names, and the quoted checkpoint is co-signed by a certified TPM key.
  const certified = (state.checkpointKeys ?? []).findLast((k) => k.receiptKeyId === body.key);
  const tpmKey =
    cp?.tpmKeyName === undefined
      ? undefined
      : (state.checkpointKeys ?? []).find((k) => k.keyName === cp.tpmKeyName);
  byName.set(
    'key.bound',
    certified !== undefined && tpmKey !== undefined
      ? {
          name: 'key.bound',
          status: 'pass',
          detail: `key ${body.key.slice(0, 16)}… is named by TPM key ${certified.keyName.slice(0, 20)}…, certified by AK ${certified.akName.slice(0, 16)}…; the quoted checkpoint is signed by TPM key ${tpmKey.keyName.slice(0, 20)}…`,
        }
      : covered
        ? {
            name: 'key.bound',
            status: 'fail',
            code: 'KEY_NOT_BOUND',
            detail:
              certified === undefined
                ? `key ${body.key.slice(0, 16)}… is named by no TPM-held checkpoint key the AK certified`
                : 'the quoted checkpoint carries no signature by a certified TPM key',
          }
        : late
          ? {
              name: 'key.bound',
              status: 'skipped',
              detail:
                'no quote covered this receipt (see receipt.included): its key binding was never quoted',
            }
          : {
              name: 'key.bound',
              status: 'asserted',
              detail: 'pending: no quote has covered this key binding yet',
            },
  );
  // The host state of the first accepted quote that covers the receipt (docs/evidence.md, "Segments").
  const found = segmentFor(await attest.segments.of(stored.agent), body.seq);
  const segment = typeof found === 'string' ? undefined : found;
  for (const [name, member] of [
    ['host.integrity', 'integrity'],
    ['host.boot', 'boot'],
  ] as const)
    byName.set(
      name,
      segment !== undefined
        ? { name, ...segment[member] }
        : found === 'dropped'
          ? {
              name,
              status: 'skipped',
              code: 'HOST_STATE_EVICTED',
              detail: 'the host state of the quote that covered this receipt is no longer kept',
            }
          : covered
            ? {
                name,
                status: 'skipped',
                detail: 'the quote that covered this receipt carried no kernel appraisal',
              }
            : late
              ? {
                  name,
                  status: 'skipped',
                  detail:
                    'no quote covered this receipt (see receipt.included): the host state it was served under is not attested',
                }
              : { name, status: 'asserted', detail: 'pending: no quote has covered this receipt yet' },
    );
  let attestation: Attestation | undefined;
  if (place.kind === 'left') {
    const e = place.ended;
    byName.set('receipt.included', {
      name: 'receipt.included',
      status: 'fail',
      code: 'RECEIPT_LOG_RUN_ENDED',
      detail: `receipt #${body.seq} is in log run ${e.run} (seqs ${e.base} to ${e.end - 1}), which ended before a quote covered it (covered below seq ${e.covered}): ${e.reason}`,
    });
  } else if (!covered || cp === null || quote === null) {
    byName.set('receipt.included', uncovered(attest, body, due, late, cp?.size ?? null));
  } else {
    const held = await attest.trees.grow(stored.agent, run, cp.size);
    // The quoted note as signed (extension lines included), opened again under its key.
    const key = (await store.getKey(cp.keyId))?.key;
    const opened = reopenQuoted(cp.note, key, logOrigin(stored.agent));
    let check: Check;
    if (!opened.ok) {
      check = { name: 'receipt.included', status: 'fail', code: opened.code, detail: opened.detail };
    } else if (held < cp.size) {
      check = {
        name: 'receipt.included',
        status: 'fail',
        code: 'RECEIPTS_MISSING',
        detail: `the verifier holds fewer than ${cp.size} receipts of this agent from seq ${run.base}`,
      };
    } else {
      // Leaf index = seq - base of the receipt's run (docs/proofs.md).
      const proof = await attest.trees.inclusionProof(stored.agent, run, body.seq - run.base, cp.size);
      const r = verifyReceiptInCheckpoint(stored.body, proof, opened.checkpoint);
      check = r.ok
        ? {
            name: 'receipt.included',
            status: 'pass',
            detail: `leaf ${body.seq - run.base} of the quoted checkpoint of size ${cp.size}${run.run > 0 ? ` (log run ${run.run}, from seq ${run.base})` : ''}`,
          }
        : { name: 'receipt.included', status: 'fail', ...(r.code ? { code: r.code } : {}), detail: r.detail };
      attestation = {
        checkpoint: cp.note,
        checkpointKey: key === undefined ? null : Buffer.from(key).toString('base64url'),
        tpmKey: tpmKey === undefined ? null : checkpointKeyMember(tpmKey),
        proof: encodeInclusionProof(proof),
        quote,
        akPublic: state.akPublic,
        pcr: state.pcr,
      };
    }
    byName.set('receipt.included', check);
  }
  return {
    checks: L1_CHECKS.map((n) => byName.get(n)!),
    // The EK root's class from enrolment (docs/tpm-roots.md); rows made before it was kept: unknown.
    tpm: state.tpm ?? { root: 'unknown', issuer: '', manufacturer: null },
    ...(attestation ? { attestation } : {}),
    ...(segment ? { segment } : {}),
  };
}
