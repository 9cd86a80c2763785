import type { DatabaseSync } from 'node:sqlite';
import type { LogRun } from '@tmb/core/log';
import { AgentError } from '../errors.ts';

/** A log run as stored (schema.ts, log_runs). */
export interface StoredRun extends LogRun {
  /** Microseconds since the epoch when it started; 0 for run 0 of a log older than runs. */
  startedUs: number;
  /** Why it started, in words. */
  reason: string;
  /** Its size now (leaves); a run's receipts are seq base .. base + size - 1. */
  size: number;
}

/**
 * Every run, oldest first, without sizes: for ReceiptLog.runs() (audit) only. Every run stays
 * stored for audit; the running agent reads one row at a time (latestRun, runAt), so their number
 * never grows its start or its memory (test/log/runs.test.ts).
 */
export function readRuns(db: DatabaseSync): Omit<StoredRun, 'size'>[] {
  return db
    .prepare('SELECT run, base, started_us, reason FROM log_runs ORDER BY run')
    .all()
    .map((r) => ({
      run: r.run as number,
      base: r.base as number,
      startedUs: r.started_us as number,
      reason: r.reason as string,
    }));
}

/** The current (highest) run; run 0 when none is recorded. */
export function latestRun(db: DatabaseSync): LogRun {
  const r = db.prepare('SELECT run, base FROM log_runs ORDER BY run DESC LIMIT 1').get() as
    | LogRun
    | undefined;
  return r === undefined ? { run: 0, base: 0 } : { run: r.run, base: r.base };
}

/** The run whose seqs start at or below `seq` (it holds seq if seq - base is below its size). */
export function runAt(db: DatabaseSync, seq: number): LogRun {
  const r = db.prepare('SELECT run, base FROM log_runs WHERE base <= ? ORDER BY run DESC LIMIT 1').get(seq) as
    | LogRun
    | undefined;
  return r === undefined ? { run: 0, base: 0 } : { run: r.run, base: r.base };
}

/** Records a new run. @throws AgentError AGENT_STORE_FAILED when SQLite fails. */
export function insertRun(db: DatabaseSync, run: LogRun, reason: string, startedUs: number): void {
  try {
    db.prepare('INSERT INTO log_runs (run, base, started_us, reason) VALUES (?, ?, ?, ?)').run(
      run.run,
      run.base,
      Math.trunc(startedUs),
      reason.slice(0, 1024),
    );
  } catch (cause) {
    throw new AgentError('AGENT_STORE_FAILED', `cannot start log run ${run.run}: ${String(cause)}`, {
      cause,
    });
  }
}
