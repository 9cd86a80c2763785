import { type Check, L1_CHECKS, type ReceiptBody, type VerdictTpm } from '@tmb/core';
import { type HostSegment, segmentFor } from '@tmb/core/host';
import { currentRun, placeFolded, runOfSeq, type SeqPlace } from '../attest/runs.ts';
import type { Segments } from '../attest/segments.ts';
import { type AgentAttest, type CertifiedKey, loadAttest } from '../attest/state.ts';
import type { Trees } from '../attest/trees.ts';
import type { BundleArchive } from '../bundle/archive.ts';
import type { Store, StoredReceipt } from '../store/types.ts';
import { CheckSlots, type Outcome } from './checks.ts';
import { type Attestation, type Coverage, type Deadline, dueOf, includedCheck } from './included.ts';

export type { Attestation } from './included.ts';

/** The store reads L1 checks make: the agent's attestation state and enrolled keys. */
export type L1Store = Pick<Store, 'getAttestRows' | 'getKey'>;

/**
 * The verifier state L1 checks are judged by besides the store (AttestService's parts): the
 * clock and inclusion deadline, AK enrolments awaiting activation, the host state segments of
 * accepted quotes, the verifier's trees of the agents' receipts and the bundle archive (the
 * quotes of folded log runs: attest/runs.ts placeFolded).
 */
export interface L1State extends Deadline {
  pending: { has(agent: string): boolean | Promise<boolean> };
  segments: Pick<Segments, 'of'>;
  trees: Pick<Trees, 'grow' | 'inclusionProof'>;
  bundles: Pick<BundleArchive, 'covering'>;
}

/** The L1 checks of a receipt and what comes with them (l1Checks). */
export interface L1Result {
  checks: Check[];
  attestation?: Attestation;
  segment?: HostSegment;
  tpm?: VerdictTpm;
  /** True when the agent has no activated AK (the checks come from withoutAk). */
  noAk?: true;
}

const PASS_THROUGH = [
  'quote.signature',
  'quote.nonce',
  'quote.clock',
  'quote.pcr_digest',
  'log.replay',
  'checkpoint.signature',
  'checkpoint.consistent',
] as const;

/**
 * The L1 checks of a receipt of an agent with no activated AK: the verifier cannot tell an agent
 * whose TPM is not enrolled yet from one without a TPM, so until the inclusion deadline they are
 * pending (`asserted`, detail `pending:`: clients that wait for a quote wait), then skipped: the
 * agent has no TPM attestation for this receipt, which a TPM-less (L0) deployment legitimately
 * has not. An AK activated later brings the ordinary checks back (l1Checks), whose quotes either
 * cover the receipt or fail it RECEIPT_NOT_INCLUDED.
 */
async function withoutAk(attest: L1State, stored: StoredReceipt, body: ReceiptBody): Promise<Check[]> {
  const due = dueOf(attest, stored, body);
  if (attest.now() < due) {
    const waiting = (await attest.pending.has(stored.agent)) ? ': its AK enrolment awaits activation' : '';
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
  store: L1Store,
  attest: L1State,
  stored: StoredReceipt,
  body: ReceiptBody | null,
): Promise<L1Result> {
  if (body === null)
    return {
      checks: L1_CHECKS.map(
        (name): Check => ({ name, status: 'skipped', detail: 'the body does not decode' }),
      ),
    };
  const state = await loadAttest(store, stored.agent);
  // No activated AK (yet): pending L1 checks until the deadline, then skipped (withoutAk).
  if (state === undefined) return { checks: await withoutAk(attest, stored, body), noAk: true };
  const slots = new CheckSlots(L1_CHECKS);
  slots.set('host.ek_certificate', state.ekCheck);
  slots.set('host.ak_activated', {
    status: 'pass',
    detail: `AK ${state.akName.slice(0, 20)}… activated on the certified EK at ${new Date(state.activatedAt).toISOString()}`,
  });
  let place = runOfSeq(state, body.seq);
  // A folded run's receipt: judged from the archived quotes of its run while they are kept.
  if (place.kind === 'folded')
    place = await placeFolded(attest.bundles, stored.agent, state, body.seq, place);
  const at = coverage(attest, state, stored, body, place);
  for (const name of PASS_THROUGH) {
    const c = at.cp === null ? undefined : state.checks.find((x) => x.name === name);
    slots.set(name, c ?? { status: 'skipped', detail: 'no quoted checkpoint of this agent yet' });
  }
  const certified = (state.checkpointKeys ?? []).findLast((k) => k.receiptKeyId === body.key);
  const tpmKey =
    at.cp?.tpmKeyName === undefined
      ? undefined
      : (state.checkpointKeys ?? []).find((k) => k.keyName === at.cp?.tpmKeyName);
  slots.set('key.bound', keyBound(body, certified, tpmKey, at));
  // The host state of the first accepted quote that covers the receipt (docs/evidence.md, "Segments").
  const found = segmentFor(await attest.segments.of(stored.agent), body.seq);
  const segment = typeof found === 'string' ? undefined : found;
  slots.set('host.integrity', hostState(segment?.integrity, found, at));
  slots.set('host.boot', hostState(segment?.boot, found, at));
  const included = await includedCheck(
    { store, trees: attest.trees, deadline: attest, state, tpmKey },
    stored,
    body,
    at,
  );
  slots.set('receipt.included', included.check);
  return {
    checks: slots.list(),
    // The EK root's class from enrolment (docs/tpm-roots.md); rows made before it was kept: unknown.
    tpm: state.tpm ?? { root: 'unknown', issuer: '', manufacturer: null },
    ...(included.attestation ? { attestation: included.attestation } : {}),
    ...(segment ? { segment } : {}),
  };
}

/**
 * The log run of the receipt (docs/evidence.md, "Log runs and recovery"; `place`, from runOfSeq
 * and, in a folded run, placeFolded): the current one, or an ended one whose last accepted
 * checkpoint (or, folded, an archived quote) covers it, or an ended one that left it behind; its
 * quoted checkpoint, and whether that covers the receipt. Uncovered and past hope (its log run
 * ended without it, or the inclusion deadline passed): `late`, the checks that wait for a quote
 * are no longer pending (receipt.included says why).
 */
function coverage(
  attest: Deadline,
  state: AgentAttest,
  stored: StoredReceipt,
  body: ReceiptBody,
  place: SeqPlace,
): Coverage {
  const cp = place.kind === 'ended' ? place.ended.checkpoint : state.checkpoint;
  const quote = place.kind === 'ended' ? place.ended.quote : state.quote;
  const run = place.kind === 'ended' ? place.ended : currentRun(state);
  const covered =
    place.kind !== 'left' && place.kind !== 'folded' && cp !== null && body.seq - run.base < cp.size;
  const due = dueOf(attest, stored, body);
  const late = !covered && (place.kind === 'left' || place.kind === 'folded' || attest.now() >= due);
  return { place, cp, quote, run, covered, late, due };
}

/**
 * `key.bound` (docs/evidence.md, "The checkpoint key"): the receipt's key is the one a TPM key
 * certified by the AK names (`certified`), and the quoted checkpoint is co-signed by a certified
 * TPM key (`tpmKey`).
 */
function keyBound(
  body: ReceiptBody,
  certified: CertifiedKey | undefined,
  tpmKey: CertifiedKey | undefined,
  at: Coverage,
): Outcome {
  if (certified !== undefined && tpmKey !== undefined)
    return {
      status: 'pass',
      detail: `key ${body.key.slice(0, 16)}… is named by TPM key ${certified.keyName.slice(0, 20)}…, certified by AK ${certified.akName.slice(0, 16)}…; the quoted checkpoint is signed by TPM key ${tpmKey.keyName.slice(0, 20)}…`,
    };
  if (at.covered)
    return {
      status: 'fail',
      code: 'KEY_NOT_BOUND',
      detail:
        certified === undefined
          ? `key ${body.key.slice(0, 16)}… is named by no TPM-held checkpoint key the AK certified`
          : 'the quoted checkpoint carries no signature by a certified TPM key',
    };
  if (at.late)
    return {
      status: 'skipped',
      detail: 'no quote covered this receipt (see receipt.included): its key binding was never quoted',
    };
  return { status: 'asserted', detail: 'pending: no quote has covered this key binding yet' };
}

/**
 * `host.integrity` or `host.boot` (`member`, from the segment judging the receipt when there is
 * one): else evicted, not appraised by the quote that covered it, or not covered (yet).
 */
function hostState(member: Outcome | undefined, found: ReturnType<typeof segmentFor>, at: Coverage): Outcome {
  if (member !== undefined) return member;
  if (found === 'dropped')
    return {
      status: 'skipped',
      code: 'HOST_STATE_EVICTED',
      detail: 'the host state of the quote that covered this receipt is no longer kept',
    };
  if (at.covered)
    return { status: 'skipped', detail: 'the quote that covered this receipt carried no kernel appraisal' };
  if (at.late)
    return {
      status: 'skipped',
      detail:
        'no quote covered this receipt (see receipt.included): the host state it was served under is not attested',
    };
  return { status: 'asserted', detail: 'pending: no quote has covered this receipt yet' };
}
