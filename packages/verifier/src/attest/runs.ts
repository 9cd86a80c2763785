import { agentKeyId, type Check, CoreError, fromBase64Url, toBase64 } from '@tmb/core';
import {
  type Checkpoint,
  type LogRun,
  parseCheckpoint,
  parseNote,
  RUN_ZERO,
  runOfCheckpoint,
} from '@tmb/core/log';
import type { ArchivedQuote, BundleArchive } from '../bundle/archive.ts';
import type { Store } from '../store/types.ts';
import type { AgentAttest, EndedRun, FoldedRuns } from './state.ts';
import type { Trees } from './trees.ts';

/**
 * What the verifier makes of a posted checkpoint's log run before appraising it (docs/evidence.md,
 * "Log runs and recovery"). Read from the note before its signature is checked: it only chooses
 * which of the verifier's own trees to compare with, and appraisal fails the evidence when the
 * signature does not hold.
 */
export interface RunView {
  /** The checkpoint's run; null when the note or checkpoint does not parse. */
  run: LogRun | null;
  /** A failed `checkpoint.consistent`: LOG_RUN_LINE_INVALID, LOG_RUN_STALE or LOG_RUN_BASE_INVALID. */
  refusal: Check | null;
  /** The checkpoint starts a run above the agent's current one. */
  fresh: boolean;
  /** The root over the receipts held here at the checkpoint's size in its run; null: fewer held. */
  root: Uint8Array | null;
  /** The verifier cannot follow the run: the first seq it cannot follow and why (LOG_RUN_BROKEN). */
  broken: { seq: number; detail: string } | null;
  /** When `fresh`: the current run as it ends if this checkpoint is accepted. */
  ended: EndedRun | null;
}

const consistent = (code: Check['code'], detail: string): Check => ({
  name: 'checkpoint.consistent',
  status: 'fail',
  code,
  detail,
});

/** The agent's current log run at this verifier. */
export function currentRun(state: AgentAttest): LogRun {
  return state.run ?? { ...RUN_ZERO };
}

/**
 * Reads the run of a posted checkpoint note against the agent's state: a lower run is stale, a
 * run's base is fixed once seen, and a new run may not start below a seq the verifier accepted
 * into a checkpoint of an earlier run (old evidence never counts as new). Grows the run's tree to
 * the checkpoint's size.
 */
export async function viewRun(o: {
  store: Store;
  trees: Trees;
  agent: string;
  state: AgentAttest;
  note: string;
  now: number;
}): Promise<RunView> {
  const view: RunView = { run: null, refusal: null, fresh: false, root: null, broken: null, ended: null };
  let size: number;
  let claimedRoot: Uint8Array;
  try {
    const cp = parseCheckpoint(parseNote(o.note).text);
    size = cp.size;
    claimedRoot = cp.root;
    view.run = runOfCheckpoint(cp);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    if (err.code === 'LOG_RUN_LINE_INVALID') view.refusal = consistent(err.code, err.message);
    return view;
  }
  const r = view.run;
  const cur = currentRun(o.state);
  // Seqs below this were covered by an accepted checkpoint of the current run (or an earlier one).
  const coveredEnd = cur.base + (o.state.checkpoint?.size ?? 0);
  if (r.run < cur.run)
    view.refusal = consistent(
      'LOG_RUN_STALE',
      `checkpoint of log run ${r.run}; the agent's current run here is ${cur.run}`,
    );
  else if (r.run === cur.run && r.base !== cur.base)
    view.refusal = consistent(
      'LOG_RUN_BASE_INVALID',
      `checkpoint of log run ${r.run} from seq ${r.base}; that run starts at seq ${cur.base}`,
    );
  else if (r.run > cur.run && r.base < coveredEnd)
    view.refusal = consistent(
      'LOG_RUN_BASE_INVALID',
      `log run ${r.run} would start at seq ${r.base}, below seq ${coveredEnd} that a quoted checkpoint of run ${cur.run} covers`,
    );
  if (view.refusal !== null) return view;
  view.fresh = r.run > cur.run;
  view.root = await o.trees.root(o.agent, r, size);
  if (view.root === null) {
    const missing = r.base + (await o.trees.grow(o.agent, r, size));
    const refused = await o.store.firstRefusal(o.agent, missing, missing + 1);
    view.broken = {
      seq: missing,
      detail: refused
        ? `receipt seq ${missing} refused: ${refused.code}`
        : `seq ${missing} never received (the agent quotes only after pushing every receipt below the checkpoint)`,
    };
  } else if (Buffer.compare(view.root, claimedRoot) !== 0) {
    const refused = await o.store.firstRefusal(o.agent, r.base, r.base + size);
    if (refused !== undefined)
      view.broken = { seq: refused.seq, detail: `receipt seq ${refused.seq} refused: ${refused.code}` };
  }
  if (view.fresh) view.ended = await endOf(o, cur, coveredEnd, r);
  return view;
}

/** The current run as it ends when run `next` starts, with the verifier's own reason. */
async function endOf(
  o: { store: Store; trees: Trees; agent: string; state: AgentAttest; now: number },
  cur: LogRun,
  coveredEnd: number,
  next: LogRun,
): Promise<EndedRun> {
  let reason: string;
  if (coveredEnd >= next.base)
    reason = `agent started run ${next.run} at seq ${next.base}; every receipt of run ${cur.run} was covered`;
  else {
    const held = cur.base + (await o.trees.grow(o.agent, cur, next.base - cur.base));
    const refused = await o.store.firstRefusal(o.agent, coveredEnd, next.base);
    // A refusal explains the end when its seq is the first one missing here, or when another
    // receipt holds its seq; a refused stray copy of a seq held here explains nothing.
    if (
      refused !== undefined &&
      (refused.seq === held || (refused.seq < held && refused.code === 'RECEIPT_SEQ_TAKEN'))
    )
      reason = `receipt seq ${refused.seq} refused: ${refused.code}`;
    else if (held < next.base) reason = `seq ${held} never received`;
    else
      reason = `agent started run ${next.run} at seq ${next.base} before a quote covered seq ${coveredEnd}`;
  }
  return {
    run: cur.run,
    base: cur.base,
    end: next.base,
    covered: coveredEnd,
    reason,
    endedAt: o.now,
    checkpoint: o.state.checkpoint,
    quote: o.state.quote,
  };
}

/**
 * The body of the 422 EVIDENCE_REJECTED answer (as enroll.ts reject) with, when the verifier
 * cannot follow the agent's current run, `logRun: {code: "LOG_RUN_BROKEN", run, base, seq,
 * detail}`: the agent then starts a new run (docs/api.md). Plain JSON: the route sends it.
 */
export function evidenceRefusal(checks: Check[], view: RunView): Record<string, unknown> {
  const failed = checks.find((c) => c.status === 'fail');
  const broken = checks.some((c) => c.code === 'LOG_RUN_BROKEN') && view.broken !== null && view.run !== null;
  return {
    error: {
      code: 'EVIDENCE_REJECTED',
      message: failed ? `${failed.name}: ${failed.code}: ${failed.detail}` : 'rejected',
    },
    checks,
    ...(broken
      ? { logRun: { code: 'LOG_RUN_BROKEN', run: view.run!.run, base: view.run!.base, ...view.broken } }
      : {}),
  };
}

/**
 * Where a receipt's seq lies among the agent's log runs (appraise/l1.ts, `receipt.included`).
 * `ended` with `archived`: a seq of a folded run that an archived quote of its run covers
 * (placeFolded). `folded` with `archive`: what the archive said of it (absent: not asked yet).
 */
export type SeqPlace =
  | { kind: 'current' }
  | { kind: 'ended'; ended: EndedRun; archived?: ArchivedQuote }
  | { kind: 'left'; ended: EndedRun }
  | { kind: 'folded'; folded: FoldedRuns; archive?: 'uncovered' | 'gone' };

/**
 * The run of seq `seq`: the current run from its base on; below it, the ended run holding it,
 * `ended` when that run's last accepted checkpoint covers it, else `left` behind
 * (RECEIPT_LOG_RUN_ENDED); `folded` when its run is one of those folded out of the state
 * (attest/state.ts, MAX_ENDED_RUNS: whether a quote covered it is no longer known here;
 * placeFolded asks the bundle archive). A seq below the current base that no recorded run holds
 * is `left` with a synthetic record (runs are contiguous from seq 0, so it does not happen).
 */
export function runOfSeq(state: AgentAttest, seq: number): SeqPlace {
  const cur = currentRun(state);
  if (seq >= cur.base) return { kind: 'current' };
  const kept = (state.endedRuns ?? []).findLast((e) => e.base <= seq && seq < e.end);
  const f = state.foldedRuns;
  if (kept === undefined && f !== undefined && f.base <= seq && seq < f.end)
    return { kind: 'folded', folded: f };
  const ended = kept ?? {
    run: Math.max(0, cur.run - 1),
    base: 0,
    end: cur.base,
    covered: 0,
    reason: `agent started run ${cur.run} at seq ${cur.base}`,
    endedAt: 0,
    checkpoint: null,
    quote: null,
  };
  return seq < ended.covered && ended.checkpoint !== null
    ? { kind: 'ended', ended }
    : { kind: 'left', ended };
}

/**
 * A seq of a folded run (runOfSeq `folded`) judged from the bundle archive, by the rule runOfSeq
 * applies to a kept run: `ended` (covered) when an accepted quote of the run holding the seq
 * covered it, its checkpoint and quote then those of that quote (the first archived one whose
 * seq end is above the seq: the quote its bundle carries). The quote must be of one of the folded
 * runs, from a base at or below the seq, its size reaching past it: a quote of another run never
 * covers it. Every archived quote is one the verifier accepted, and a run's checkpoints only grow,
 * so a seq covered here was covered by the run's last checkpoint too: the archive never makes
 * pass what the kept run would fail. Else `folded`, with `archive` `uncovered` (the archive holds
 * every quote around the seq and none covered it) or `gone` (its older rows were deleted, or none
 * reaches the seq: whether a quote covered it is no longer known, and it fails).
 */
export async function placeFolded(
  archive: Pick<BundleArchive, 'covering'>,
  agent: string,
  state: AgentAttest,
  seq: number,
  place: Extract<SeqPlace, { kind: 'folded' }>,
): Promise<SeqPlace> {
  const f = place.folded;
  const { quote: q, whole } = await archive.covering(agent, seq);
  if (q !== null) {
    const run = q.run ?? 0;
    const base = q.base ?? 0;
    if (f.first <= run && run <= f.last && f.base <= base && base <= seq && seq < base + q.size)
      return { kind: 'ended', ended: archivedRun(state, q, run, base), archived: q };
  }
  return { ...place, archive: whole ? 'uncovered' : 'gone' };
}

/** The ended run as far as the archived quote `q` of run `run` from seq `base` tells it. */
function archivedRun(state: AgentAttest, q: ArchivedQuote, run: number, base: number): EndedRun {
  // The TPM key by its public area, among those the state keeps (as key.bound looks it up by name).
  const tpm = q.tpmKey ? state.checkpointKeys?.find((k) => k.keyPublic === q.tpmKey!.public) : undefined;
  let root = '';
  try {
    root = toBase64(parseCheckpoint(parseNote(q.note).text).root);
  } catch {
    // The note was accepted with this quote; includedCheck reopens it and names any failure.
  }
  return {
    run,
    base,
    end: base + q.size,
    covered: base + q.size,
    reason: 'folded: judged from the archived quote',
    endedAt: 0,
    checkpoint: {
      note: q.note,
      size: q.size,
      root,
      keyId: agentKeyId(fromBase64Url(q.checkpointKey)),
      ...(tpm === undefined ? {} : { tpmKeyName: tpm.keyName }),
    },
    quote: { ...q.quote, nonce: q.nonce },
  };
}

/**
 * `checkpoint.receipts`: the root over the receipts held here (`root`, at the checkpoint's size in
 * its run; null: fewer held) against the checkpoint's. LOG_RUN_BROKEN when the verifier cannot
 * follow the run (a refused or never received seq); skipped for a checkpoint of a run it refused.
 */
export function receiptsCheck(cp: Checkpoint, root: Uint8Array | null, view: RunView | undefined): Check {
  const name = 'checkpoint.receipts';
  if (view?.refusal)
    return { name, status: 'skipped', detail: 'the checkpoint is not of a log run this verifier follows' };
  const same = root !== null && Buffer.compare(root, cp.root) === 0;
  const broken = view?.broken;
  if (broken && !same)
    return {
      name,
      status: 'fail',
      code: 'LOG_RUN_BROKEN',
      detail: `log run ${view?.run?.run ?? 0} cannot be followed from seq ${broken.seq}: ${broken.detail}`,
    };
  if (root === null)
    return {
      name,
      status: 'fail',
      code: 'RECEIPTS_MISSING',
      detail: `the verifier holds fewer than ${cp.size} consecutive receipts of this agent from seq ${view?.run?.base ?? 0}`,
    };
  if (!same)
    return {
      name,
      status: 'fail',
      code: 'CHECKPOINT_ROOT_MISMATCH',
      detail: `the root over the ${cp.size} receipts held here differs from the checkpoint's`,
    };
  return { name, status: 'pass', detail: `root over the ${cp.size} receipts held here matches` };
}
