import { CoreError } from '../errors.ts';
import { type Checkpoint, parseCheckpoint } from './checkpoint.ts';

// Log runs (docs/checkpoint.md "The run line", docs/proofs.md "Log runs"): an agent's receipts
// form one dense sequence; a run is one RFC 6962 Merkle log whose leaf i is the receipt with
// seq base + i. Run 0 (base 0) writes no line, so its checkpoints are byte-for-byte those of a
// log without runs.

/** The keyword that starts a run line. */
export const RUN_LINE_KEYWORD = 'tmb-run';

/** Which log run a checkpoint is of: run number and the seq of its leaf 0. */
export interface LogRun {
  /** Run number, 0 for the agent's first log. A safe integer. */
  run: number;
  /** Seq of the run's leaf 0: leaf i is the receipt with seq base + i. 0 for run 0. */
  base: number;
}

/** Run 0: what a checkpoint without a run line is of. */
export const RUN_ZERO: Readonly<LogRun> = Object.freeze({ run: 0, base: 0 });

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

function invalid(detail: string): CoreError {
  return new CoreError('LOG_RUN_LINE_INVALID', detail);
}

/** ASCII decimal without leading zeros, read as a safe integer, or undefined. */
function decimal(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** True when an extension line claims to be a run line (its first word is `tmb-run`). */
export function isRunLine(line: string): boolean {
  return line === RUN_LINE_KEYWORD || line.startsWith(`${RUN_LINE_KEYWORD} `);
}

/**
 * The extension line of a run r >= 1: `tmb-run <r> <base>`.
 * @throws CoreError LOG_RUN_LINE_INVALID when run is not a safe integer >= 1 or base is not a
 *   safe integer >= 0 (run 0 has no line; programmer error).
 * @example formatRunLine({ run: 2, base: 40 }) === 'tmb-run 2 40'
 */
export function formatRunLine(r: LogRun): string {
  if (!Number.isSafeInteger(r.run) || r.run < 1) throw invalid(`run ${r.run} has no run line (runs >= 1 do)`);
  if (!Number.isSafeInteger(r.base) || r.base < 0) throw invalid(`invalid run base ${r.base}`);
  return `${RUN_LINE_KEYWORD} ${r.run} ${r.base}`;
}

/**
 * Parses one run line strictly: the keyword, one space, run (>= 1), one space, base; ASCII
 * decimals without sign or leading zeros, at most 2^53 - 1. Attacker-controlled text.
 * @throws CoreError LOG_RUN_LINE_INVALID
 */
export function parseRunLine(line: string): LogRun {
  const shown = JSON.stringify(line.slice(0, 48));
  const parts = line.split(' ');
  if (parts.length !== 3 || parts[0] !== RUN_LINE_KEYWORD)
    throw invalid(`run line ${shown} is not "tmb-run <run> <base>"`);
  const run = decimal(parts[1] as string);
  const base = decimal(parts[2] as string);
  if (run === undefined || base === undefined)
    throw invalid(`run line ${shown}: run and base must be minimal decimals up to 2^53 - 1`);
  if (run === 0) throw invalid(`run line ${shown}: run 0 is written without a run line`);
  return { run, base };
}

/**
 * The run of a checkpoint, from its extension lines: none is run 0 (base 0); a run line must be
 * the first extension line (before `tmb-telemetry`), and only one is allowed. Also refuses a
 * base whose run end (base + size) is above 2^53 - 1.
 * `cp` is a parsed checkpoint or checkpoint note text (the signed text, not the whole note).
 * @throws CoreError LOG_RUN_LINE_INVALID; for text, also what parseCheckpoint throws.
 */
export function runOfCheckpoint(cp: Checkpoint | string): LogRun {
  const checkpoint = typeof cp === 'string' ? parseCheckpoint(cp) : cp;
  const lines = checkpoint.extensions.filter(isRunLine);
  if (lines.length === 0) return { ...RUN_ZERO };
  if (lines.length > 1) throw invalid(`${lines.length} tmb-run lines, at most one allowed`);
  if (checkpoint.extensions[0] !== lines[0])
    throw invalid('the tmb-run line is not the first extension line');
  const r = parseRunLine(lines[0] as string);
  if (!Number.isSafeInteger(r.base + checkpoint.size))
    throw invalid(`run base ${r.base} plus size ${checkpoint.size} is above 2^53 - 1`);
  return r;
}
