/**
 * Soak and faults (issue 10): a real stack on 127.0.0.1 (swtpm with a test kernel's logs, `tmb
 * verifier`, a TCP relay, the sample model server with a 5 ms token latency, `tmb agent`), then
 * - soak: `--concurrency` (1,000) streamed chat completions at a time through the agent for
 *   `--seconds` (60; `--minutes 10` for the full length), their first requests spread over
 *   `--ramp-seconds` (5; 0: all at once): requests, errors (must be 0),
 *   acknowledged receipts found in the agent's store and at the verifier, verdicts, the agent's
 *   RSS sampled (first vs last third: `rss_flat_ratio`), p50/p99 latency against the same load
 *   sent directly to the sample server in the same run (for `--seconds`, at most 60);
 * - faults, each its own phase under `--fault-concurrency` (64) streams: verifier_restart (SIGKILL,
 *   started again on the same database and port), network_cut (`--cut-seconds`, 10, the relay
 *   stopped), disk_full (root only: the agent's tmpfs data folder filled to ENOSPC for
 *   `--disk-seconds`, 5), agent_restart (SIGKILL, started again on the same data folder and
 *   port), swtpm_restart (SIGKILL, started again on the same state and port: a TPM reset).
 *   Per phase: receipts acknowledged, found in the store and at the verifier, verdicts by
 *   level/code (asked until not pending, bounded), time to recover, the agent's log events.
 * Metrics are `PHASE.NAME`; a skipped phase yields `PHASE.skipped` with the reason as its unit.
 * `--faults a,b` picks fault phases (`none` for none); `--keep-logs DIR` copies the agent's and
 * verifier's logs there. Every process is stopped by PID at the end, on failure too.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchRecord } from './record.ts';
import { FAULTS, type FaultName, faultPhase, type SoakOptions, soakPhase } from './soak/phases.ts';
import { startStack } from './soak/stack.ts';

/** The defaults: the soak of issue 10 on a 2-core machine. */
export const DEFAULTS: SoakOptions = {
  concurrency: 1000,
  seconds: 60,
  baselineSeconds: 60,
  rampMs: 5000,
  faultConcurrency: 64,
  aroundMs: 3000,
  cutSeconds: 10,
  diskSeconds: 5,
  swtpmDownSeconds: 2,
  model: 'sample-soak',
  tokenLatencyMs: 5,
  maxTokens: 16,
  verdictSample: 1000,
  drainMs: 120_000,
  settleMs: 45_000,
  faults: [...FAULTS],
};

/** Options from the command line (`npm run bench -- soak --minutes 10`); unknown flags are ignored. */
export function soakOptions(argv: string[]): SoakOptions & { keepLogs?: string } {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      'fault-concurrency': { type: 'string' },
      'cut-seconds': { type: 'string' },
      'ramp-seconds': { type: 'string' },
      'disk-seconds': { type: 'string' },
      faults: { type: 'string' },
      'keep-logs': { type: 'string' },
    },
  });
  const num = (v: unknown, d: number, zero = false) => {
    if (typeof v !== 'string') return d;
    const n = Number(v);
    if (!(n > 0 || (zero && n === 0))) throw new Error(`soak: expected a positive number, found ${v}`);
    return n;
  };
  const seconds =
    values.minutes !== undefined ? num(values.minutes, 1) * 60 : num(values.seconds, DEFAULTS.seconds);
  let faults = DEFAULTS.faults;
  if (typeof values.faults === 'string') {
    faults = values.faults === 'none' ? [] : (values.faults.split(',') as FaultName[]);
    const unknown = faults.filter((f) => !(FAULTS as readonly string[]).includes(f));
    if (unknown.length > 0)
      throw new Error(`soak: unknown fault ${unknown.join(',')}; there are ${FAULTS.join(',')}`);
  }
  return {
    ...DEFAULTS,
    seconds,
    baselineSeconds: Math.min(DEFAULTS.baselineSeconds, seconds),
    rampMs: num(values['ramp-seconds'], DEFAULTS.rampMs / 1000, true) * 1000,
    drainMs: Math.max(DEFAULTS.drainMs, seconds * 2000),
    concurrency: Math.round(num(values.concurrency, DEFAULTS.concurrency)),
    faultConcurrency: Math.round(num(values['fault-concurrency'], DEFAULTS.faultConcurrency)),
    cutSeconds: num(values['cut-seconds'], DEFAULTS.cutSeconds),
    diskSeconds: num(values['disk-seconds'], DEFAULTS.diskSeconds),
    faults,
    ...(typeof values['keep-logs'] === 'string' ? { keepLogs: values['keep-logs'] } : {}),
  };
}

/** Runs the soak then each fault phase on one stack; yields `soak` records (metric `PHASE.NAME`). */
export async function* run(
  options: SoakOptions & { keepLogs?: string } = soakOptions(process.argv.slice(2)),
): AsyncGenerator<BenchRecord> {
  try {
    execFileSync('swtpm', ['--version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write('soak: needs swtpm (swtpm and swtpm-tools packages); skipped\n');
    yield { bench: 'soak', metric: 'setup.skipped', value: 1, unit: 'no swtpm', baseline: null };
    return;
  }
  const t0 = performance.now();
  const stack = await startStack({
    model: options.model,
    tokenLatencyMs: options.tokenLatencyMs,
    tmpfsMiB: 2048,
  });
  // Interrupted (Ctrl-C, timeout): stop every process and unmount before exiting.
  const onSignal = () => void stack.close().finally(() => process.exit(130));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    yield {
      bench: 'soak',
      metric: 'setup.start_ms',
      value: Math.round(performance.now() - t0),
      unit: 'ms',
      baseline: null,
    };
    for (const f of await soakPhase(stack, options))
      yield { bench: 'soak', ...f, metric: `soak.${f.metric}` };
    for (const name of options.faults)
      for (const f of await faultPhase(stack, options, name))
        yield { bench: 'soak', ...f, metric: `${name}.${f.metric}` };
  } finally {
    if (options.keepLogs !== undefined) {
      await mkdir(options.keepLogs, { recursive: true });
      await copyFile(stack.agentLog, join(options.keepLogs, 'agent.log')).catch(() => {});
      await copyFile(stack.verifierLog, join(options.keepLogs, 'verifier.log')).catch(() => {});
    }
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await stack.close();
  }
}
