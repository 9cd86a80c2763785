import { fromHex, toHex } from '../bytes/encoding.ts';
import type { Check } from '../verdict/types.ts';
import type { ImaColumns } from './columns.ts';
import { pcrInitialValue, type ReplayOptions, type ReplayResult, replay } from './replay.ts';
import { replayColumns } from './replay-columns.ts';
import type { ImaEntry, PcrBank } from './types.ts';

/**
 * What a verifier keeps per agent between rounds, so that evidence after the first full log
 * carries only new entries. Plain JSON: store it as is. Change rule: adding a member with a
 * default is compatible; renaming or changing one's meaning needs a migration of stored states.
 */
export interface ImaState {
  bank: PcrBank;
  pcrIndex: number;
  /** Running PCR value (hex) after the first `nextIndex` entries. */
  pcr: string;
  /** Entries already replayed to a quoted value; the next evidence starts here. */
  nextIndex: number;
  /** Entries after nextIndex already seen in a log but not yet covered by a quote. */
  pending: number;
  /** TPM resetCount the state belongs to; a different one means a reboot and a new log. */
  resetCount: number;
  /** Consecutive rounds in which no prefix of the log reached the quoted value. */
  unmatchedRounds: number;
}

/** The state before the first entry of a boot. */
export function initialImaState(bank: PcrBank, pcrIndex: number, resetCount: number): ImaState {
  return {
    bank,
    pcrIndex,
    pcr: toHex(pcrInitialValue(pcrIndex, bank)),
    nextIndex: 0,
    pending: 0,
    resetCount,
    unmatchedRounds: 0,
  };
}

/** One round of evidence: the entries from `startIndex` on, and a verified quote's values. */
export interface ImaEvidence {
  /** Index of entries[0] in the whole list; 0 for a full log. Parse with firstIndex = startIndex. */
  startIndex: number;
  entries: readonly ImaEntry[];
  /** The quoted value of state.pcrIndex in state.bank. */
  quotedPcr: Uint8Array;
  /** resetCount from the same quote's clock info. */
  resetCount: number;
}

/** Options of advanceIma(); the defaults follow Keylime. */
export interface AdvanceOptions {
  /**
   * Fail when the log runs past the quote (IMA_LOG_AHEAD_OF_QUOTE). Default false: the agent
   * reads the log after quoting, so new entries may land in between; they are tolerated once
   * and the next quote must cover them (IMA_QUOTE_NOT_CAUGHT_UP otherwise). Offline bundles,
   * where no later quote will come, set it.
   */
  strict?: boolean;
  /**
   * Rounds in a row in which the quote may be ahead of the log (no prefix reaches it) before
   * that fails IMA_PCR_MISMATCH. Default 1. Such a round accepts nothing.
   */
  maxUnmatchedRounds?: number;
  /** Passed to replay(). */
  checkTemplateHash?: boolean;
  /** Passed to replay(): filled with each entry's bank digest (latin1) at its position. */
  digests?: string[];
}

/** The outcome of one round. */
export interface AdvanceResult {
  state: ImaState;
  /** `ima.replay` always; `ima.template` when a template hash is wrong. */
  checks: Check[];
  /** Entries of state.pcrIndex now covered by a quote for the first time: their digests are measured. */
  accepted: ImaEntry[];
  /** Entries not seen in an earlier round: appraise these against the policy. */
  fresh: ImaEntry[];
}

/**
 * Replays one round of evidence on top of the state: a pure function of (state, entries,
 * quote) to (state', checks). Never throws for bad evidence.
 */
export function advanceIma(state: ImaState, ev: ImaEvidence, options: AdvanceOptions = {}): AdvanceResult {
  const es = ev.entries;
  const misplaced = es.findIndex((e, i) => e.index !== ev.startIndex + i);
  const r = advance(
    state,
    ev,
    {
      length: es.length,
      misplaced: misplaced < 0 ? null : es[misplaced]!.index,
      replay: (o) => replay(es, o),
      offset: (k) => es[k]!.offset,
    },
    options,
  );
  if (r.covered === null) return { state: r.state, checks: r.checks, accepted: [], fresh: [] };
  const seen = r.seen;
  return {
    state: r.state,
    checks: r.checks,
    accepted: es.slice(0, r.covered).filter((e) => e.pcr === state.pcrIndex),
    fresh: r.fresh ? es.filter((e) => e.index >= seen) : [],
  };
}

/** advanceIma()'s outcome over columns: the same state and checks; entries as a count. */
export interface AdvanceColumnsResult {
  state: ImaState;
  checks: Check[];
  /**
   * Columns [0, covered) are now covered by a quote (those of state.pcrIndex are advanceIma's
   * `accepted`); 0 when nothing is.
   */
  covered: number;
}

/**
 * advanceIma() over columns (parseBinaryColumns with firstIndex = startIndex): the same rules,
 * state and checks, with no ImaEntry per entry. Property tests check both agree.
 */
export function advanceImaColumns(
  state: ImaState,
  ev: Omit<ImaEvidence, 'entries'> & { columns: ImaColumns },
  options: AdvanceOptions = {},
): AdvanceColumnsResult {
  const cols = ev.columns;
  const r = advance(
    state,
    ev,
    {
      length: cols.length,
      misplaced: cols.length > 0 && cols.firstIndex !== ev.startIndex ? cols.firstIndex : null,
      replay: (o) => replayColumns(cols, o),
      offset: (k) => cols.offset[k]!,
    },
    options,
  );
  return { state: r.state, checks: r.checks, covered: r.covered ?? 0 };
}

/** One round's entries as advance() reads them (objects or columns). */
interface RoundSource {
  length: number;
  /** The index of the first entry not at its place, or null. */
  misplaced: number | null;
  replay(o: ReplayOptions): ReplayResult;
  offset(k: number): number;
}

/** The rules of advanceIma(), over either form. `covered` null: nothing accepted. */
function advance(
  state: ImaState,
  ev: Omit<ImaEvidence, 'entries'>,
  src: RoundSource,
  options: AdvanceOptions,
): { state: ImaState; checks: Check[]; covered: number | null; seen: number; fresh: boolean } {
  const fail = (code: Check['code'], detail: string, s: ImaState = state) => ({
    state: s,
    checks: [{ name: 'ima.replay', status: 'fail', code, detail }] as Check[],
    covered: null,
    seen: 0,
    fresh: false,
  });
  let s = state;
  if (ev.resetCount !== s.resetCount) {
    if (ev.resetCount < s.resetCount) {
      return fail(
        'IMA_RESET_COUNT_DECREASED',
        `TPM resetCount went from ${s.resetCount} to ${ev.resetCount}`,
      );
    }
    s = initialImaState(s.bank, s.pcrIndex, ev.resetCount);
    if (ev.startIndex !== 0) {
      return fail(
        'IMA_FULL_LOG_REQUIRED',
        `the TPM was reset (resetCount ${ev.resetCount}); evidence must start at entry 0, not ${ev.startIndex}`,
        s,
      );
    }
  }
  const n = src.length;
  if (ev.startIndex !== s.nextIndex || src.misplaced !== null) {
    return fail(
      'IMA_INDEX_GAP',
      `expected entries from index ${s.nextIndex}, found ${src.misplaced ?? ev.startIndex}`,
    );
  }
  const seen = s.nextIndex + s.pending;
  const r = src.replay({
    bank: s.bank,
    pcrIndex: s.pcrIndex,
    initial: fromHex(s.pcr),
    quoted: ev.quotedPcr,
    ...(options.checkTemplateHash !== undefined ? { checkTemplateHash: options.checkTemplateHash } : {}),
    ...(options.digests !== undefined ? { digests: options.digests } : {}),
  });
  const checks: Check[] = [];
  const bad = r.templateHashMismatches[0];
  if (bad !== undefined) {
    checks.push({
      name: 'ima.template',
      status: 'fail',
      code: 'IMA_TEMPLATE_HASH_MISMATCH',
      detail: `${r.templateHashMismatches.length} entries' template hash is not the SHA-1 of their data; first #${bad.index} at byte ${bad.offset}`,
    });
  }
  if (r.matchedAfter === null) {
    const rounds = s.unmatchedRounds + 1;
    const next = { ...s, pending: Math.max(s.pending, n), unmatchedRounds: rounds };
    const allowed = options.maxUnmatchedRounds ?? 1;
    checks.unshift(
      rounds > allowed
        ? {
            name: 'ima.replay',
            status: 'fail',
            code: 'IMA_PCR_MISMATCH',
            detail: `no prefix of ${n} entries from #${ev.startIndex} replays to the quoted PCR ${s.pcrIndex}, ${rounds} rounds in a row`,
          }
        : {
            name: 'ima.replay',
            status: 'skipped',
            detail: `the quoted PCR ${s.pcrIndex} is ahead of the ${n} entries sent; nothing accepted, the next log must reach it`,
          },
    );
    return { state: next, checks, covered: null, seen, fresh: true };
  }
  const k = r.matchedAfter;
  const next: ImaState = {
    ...s,
    pcr: toHex(r.matchedValue!),
    nextIndex: s.nextIndex + k,
    pending: n - k,
    unmatchedRounds: 0,
  };
  if (k < s.pending) {
    checks.unshift({
      name: 'ima.replay',
      status: 'fail',
      code: 'IMA_QUOTE_NOT_CAUGHT_UP',
      detail: `entries #${ev.startIndex + k} to #${seen - 1} were logged before the previous quote and this quote still does not cover them`,
    });
  } else if (options.strict === true && k < n) {
    checks.unshift({
      name: 'ima.replay',
      status: 'fail',
      code: 'IMA_LOG_AHEAD_OF_QUOTE',
      detail: `the log is longer than its quote: entry #${ev.startIndex + k} at byte ${src.offset(k)} and ${n - k - 1} after it are not covered`,
    });
  } else {
    const ahead = n - k === 0 ? '' : `; ${n - k} later entries wait for the next quote`;
    checks.unshift({
      name: 'ima.replay',
      status: 'pass',
      detail: `entries #${ev.startIndex} to #${ev.startIndex + k - 1} replay to the quoted PCR ${s.pcrIndex}${ahead}`,
    });
  }
  return { state: next, checks, covered: k, seen, fresh: true };
}
