/**
 * The soak bench's phases over one running stack (bench/soak/stack.ts): the soak itself (many
 * concurrent streams through the agent, direct to the model server as the baseline, the agent's
 * RSS sampled) and the faults (verifier restarted, network to the verifier cut, the agent's disk
 * full, agent restarted, swtpm restarted), each under a smaller load that runs through the fault and its recovery.
 * After each: every acknowledged receipt is looked up in the agent's store and the verifier's, and
 * the verdicts of (a sample of) them are asked for until none is pending or a bounded wait ends.
 */
import { stat } from 'node:fs/promises';
import { percentile } from '../record.ts';
import { countPresent, countRows, outcomes, sampleIds, verdicts } from './check.ts';
import { chatBody, type Load, type LoadResult, startLoad } from './load.ts';
import { eventCounts, until } from './procs.ts';
import type { Stack } from './stack.ts';

/** Options of the soak bench (defaults in bench/soak.bench.ts). */
export interface SoakOptions {
  /** Concurrent streams in the soak phase. */
  concurrency: number;
  /** Length of the soak phase, seconds. */
  seconds: number;
  /** Length of the direct-to-model-server baseline at the same concurrency, seconds. */
  baselineSeconds: number;
  /** The soak's streams start spread over this many ms (0: all at once). */
  rampMs: number;
  /** Concurrent streams during each fault phase. */
  faultConcurrency: number;
  /** Load before a fault and after its recovery, ms. */
  aroundMs: number;
  /** How long the network to the verifier stays cut, seconds. */
  cutSeconds: number;
  /** How long the agent's disk stays full, seconds. */
  diskSeconds: number;
  /** How long swtpm stays down, seconds. */
  swtpmDownSeconds: number;
  model: string;
  tokenLatencyMs: number;
  maxTokens: number;
  /** Receipts whose verdict is asked for, per phase. */
  verdictSample: number;
  /** Bounded wait for every acknowledged receipt to reach the verifier after a phase, ms. */
  drainMs: number;
  /** Bounded wait for verdicts to leave `pending`, ms. */
  settleMs: number;
  /** Fault phases to run, in order. */
  faults: FaultName[];
}

/**
 * The fault phases, in their default order. swtpm_restart last: a TPM reset is a new boot; the
 * agent starts a new log run and checkpoint key in it (docs/evidence.md, "A TPM reset under a
 * running agent"), but this stack's simulated kernel does not boot again, so the host's logs no
 * longer replay to the new boot's PCRs and its receipts stay below L1 (host.integrity) after it.
 */
export const FAULTS = [
  'verifier_restart',
  'network_cut',
  'disk_full',
  'agent_restart',
  'swtpm_restart',
] as const;
export type FaultName = (typeof FAULTS)[number];

/** One figure of a phase: `metric` is prefixed with the phase's name by the caller. */
export interface Figure {
  metric: string;
  value: number;
  unit: string;
  baseline: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Figures of a finished load: requests and errors, acknowledged receipts found in the agent's
 * store and, after at most `drainMs`, at the verifier, the verdicts of a sample of them (one
 * example of each class but L1 goes to stderr), and whether the agent still runs.
 */
async function account(stack: Stack, o: SoakOptions, phase: string, load: LoadResult): Promise<Figure[]> {
  const ids = load.acknowledged;
  const inAgent = countPresent(stack.agentDb, ids);
  let atVerifier = countPresent(stack.verifierDb, ids);
  const t0 = performance.now();
  const drained = await until(
    () => {
      atVerifier = countPresent(stack.verifierDb, ids);
      return atVerifier.found === ids.length;
    },
    o.drainMs,
    200,
  );
  const drainMs = drained ? performance.now() - t0 : -1;
  const asked = sampleIds(ids, o.verdictSample);
  const { counts, examples } = await verdicts(stack.verifierUrl(), asked, performance.now() + o.settleMs);
  for (const [cls, example] of Object.entries(examples))
    if (cls !== 'L1') process.stderr.write(`soak: ${phase} verdict ${cls}, e.g. ${example}\n`);
  if (inAgent.missing.length > 0 || atVerifier.missing.length > 0)
    process.stderr.write(
      `soak: ${phase} lost receipts: not in the agent's store ${inAgent.missing.slice(0, 5).join(',')}; not at the verifier ${atVerifier.missing.slice(0, 5).join(',')}\n`,
    );
  const n = (metric: string, value: number, unit: string, baseline: number | null = null): Figure => ({
    metric,
    value,
    unit,
    baseline,
  });
  return [
    n('requests', load.requests, 'requests'),
    n('errors', load.errorCount, 'requests'),
    ...Object.entries(load.errors).map(([k, v]) => n(`error.${k}`, v, 'requests')),
    n('acknowledged', ids.length, 'receipts'),
    n('in_agent_store', inAgent.found, 'receipts', ids.length),
    n('at_verifier', atVerifier.found, 'receipts', ids.length),
    n('drain_ms', Math.round(drainMs), 'ms'),
    n('verdicts_asked', asked.length, 'receipts'),
    ...Object.entries(counts).map(([k, v]) => n(`verdict.${k}`, v, 'receipts')),
    n('agent_alive', stack.agentAlive() ? 1 : 0, 'bool'),
  ];
}

/**
 * Where in the run the errors started and how latency moved, in tenths of the run: a diagnostic
 * line on stderr (a stall shows as errors bunched in one tenth, a slow leak as a rising p50).
 */
function overTime(r: LoadResult, ms: number) {
  const tenth = (t: number) => Math.min(9, Math.floor((t / ms) * 10));
  const errors = new Array<number>(10).fill(0);
  for (const t of r.errorStarts) errors[tenth(t)]!++;
  const lat: number[][] = Array.from({ length: 10 }, () => []);
  r.starts.forEach((t, i) => {
    lat[tenth(t)]!.push(r.latencies[i]!);
  });
  const p = (xs: number[], q: number) =>
    Math.round(
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      ),
    );
  return {
    errorStartsByTenth: errors,
    completedByTenth: lat.map((xs) => xs.length),
    p50ByTenth: lat.map((xs) => p(xs, 50)),
    p99ByTenth: lat.map((xs) => p(xs, 99)),
  };
}

function latencyFigures(through: number[], direct: number[]): Figure[] {
  const a = [...through].sort((x, y) => x - y);
  const d = [...direct].sort((x, y) => x - y);
  const out: Figure[] = [];
  for (const p of [50, 99]) {
    const pa = percentile(a, p);
    const pd = percentile(d, p);
    out.push({ metric: `p${p}_ms`, value: round(pa), unit: 'ms', baseline: round(pd) });
    out.push({ metric: `p${p}_ratio`, value: round(pa / pd), unit: 'ratio', baseline: null });
  }
  return out;
}

/** The soak phase: a direct baseline, then `concurrency` streams through the agent for `seconds`. */
export async function soakPhase(stack: Stack, o: SoakOptions): Promise<Figure[]> {
  const body = chatBody(o.model, o.maxTokens);
  const direct = startLoad(stack.sampleUrl, body, o.concurrency, { receipts: false, rampMs: o.rampMs });
  await sleep(o.baselineSeconds * 1000);
  const base = await direct.stop();
  const rss: number[] = [];
  const everyMs = Math.min(3000, Math.max(250, (o.seconds * 1000) / 30));
  const load = startLoad(stack.agentUrl, body, o.concurrency, { rampMs: o.rampMs });
  const t0 = performance.now();
  while (performance.now() - t0 < o.seconds * 1000) {
    await sleep(everyMs);
    const kib = await stack.agentRssKiB();
    if (kib !== null) rss.push(kib);
  }
  const result = await load.stop();
  const elapsed = (performance.now() - t0) / 1000;
  process.stderr.write(`soak: direct ${JSON.stringify(overTime(base, o.baselineSeconds * 1000))}\n`);
  process.stderr.write(`soak: through the agent ${JSON.stringify(overTime(result, o.seconds * 1000))}\n`);
  process.stderr.write(`soak: agent RSS KiB every ${Math.round(everyMs)} ms ${JSON.stringify(rss)}\n`);
  const third = Math.max(1, Math.floor(rss.length / 3));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const first = mean(rss.slice(0, third));
  const last = mean(rss.slice(-third));
  const figures: Figure[] = [
    {
      metric: 'requests_per_s',
      value: round(result.requests / elapsed),
      unit: 'requests/s',
      baseline: round(base.requests / o.baselineSeconds),
    },
    { metric: 'baseline_errors', value: base.errorCount, unit: 'requests', baseline: null },
    ...latencyFigures(result.latencies, base.latencies),
    { metric: 'rss_samples', value: rss.length, unit: 'samples', baseline: null },
    { metric: 'rss_first_third', value: Math.round(first), unit: 'KiB', baseline: null },
    { metric: 'rss_last_third', value: Math.round(last), unit: 'KiB', baseline: null },
    { metric: 'rss_flat_ratio', value: round(last / first), unit: 'ratio', baseline: null },
    { metric: 'rss_max', value: Math.max(...rss), unit: 'KiB', baseline: null },
    ...(await account(stack, o, 'soak', result)),
    { metric: 'agent_store_rows', value: countRows(stack.agentDb), unit: 'receipts', baseline: null },
    // After the accounting, with the agent idle: memory it kept once the load was gone.
    { metric: 'rss_idle_after', value: (await stack.agentRssKiB()) ?? -1, unit: 'KiB', baseline: null },
    ...Object.entries(outcomes(stack.agentDb)).map(([k, v]) => ({
      metric: `stored_outcome.${k}`,
      value: v,
      unit: 'receipts',
      baseline: null,
    })),
  ];
  return figures;
}

/** A fault: `inject` puts it in place, it is held `holdMs`, `restore` starts the recovery. */
type Fault = { inject(): Promise<void>; holdMs: number; restore(): Promise<void> };

function fault(stack: Stack, o: SoakOptions, name: FaultName): Fault | string {
  switch (name) {
    case 'verifier_restart':
      return { inject: () => stack.restartVerifier(), holdMs: 0, restore: async () => {} };
    case 'network_cut':
      return {
        inject: () => stack.cutNetwork(),
        holdMs: o.cutSeconds * 1000,
        restore: () => stack.restoreNetwork(),
      };
    case 'agent_restart':
      return { inject: () => stack.restartAgent(), holdMs: 0, restore: async () => {} };
    case 'swtpm_restart':
      return {
        inject: () => stack.killSwtpm(),
        holdMs: o.swtpmDownSeconds * 1000,
        restore: () => stack.startSwtpm(),
      };
    case 'disk_full':
      if (!stack.tmpfs)
        return process.getuid?.() === 0 ? 'agent data folder not on tmpfs' : 'needs root (tmpfs mount)';
      return {
        inject: () => stack.fillDisk(),
        holdMs: o.diskSeconds * 1000,
        restore: () => stack.freeDisk(),
      };
  }
}

/**
 * Watches the recovery from `restoredAt`: when every receipt acknowledged before it is at the
 * verifier (`recover_ms`), and when a receipt acknowledged after it first has an L1 verdict
 * (`l1_again_ms`); -1 for what did not happen within `boundMs`.
 */
async function watchRecovery(stack: Stack, load: Load, boundMs: number) {
  const restoredAt = performance.now();
  const before = load.acknowledged();
  const since = () => performance.now() - restoredAt;
  const [recovered, l1] = await Promise.all([
    until(() => countPresent(stack.verifierDb, before).found === before.length, boundMs, 200).then((ok) =>
      ok ? since() : -1,
    ),
    until(
      async () => {
        const ids = load.acknowledged();
        if (ids.length <= before.length) return false;
        const { counts } = await verdicts(stack.verifierUrl(), [ids[ids.length - 1]!], 0, 1);
        return counts.L1 === 1;
      },
      boundMs,
      250,
    ).then((ok) => (ok ? since() : -1)),
  ]);
  return { recovered, l1 };
}

/**
 * One fault phase: load, the fault held for its time (the disk, until the agent first fails an
 * exchange, at most 30 s, then its time), recovery under load, then the accounting.
 */
export async function faultPhase(stack: Stack, o: SoakOptions, name: FaultName): Promise<Figure[]> {
  const f = fault(stack, o, name);
  if (typeof f === 'string') {
    process.stderr.write(`soak: ${name} skipped: ${f}\n`);
    return [{ metric: 'skipped', value: 1, unit: f, baseline: null }];
  }
  const logFrom = (await sizeOf(stack.agentLog)) ?? 0;
  const load = startLoad(stack.agentUrl, chatBody(o.model, o.maxTokens), o.faultConcurrency, {
    timeoutMs: 30_000,
  });
  try {
    await sleep(o.aroundMs);
    const figures: Figure[] = [];
    const t0 = performance.now();
    const errorsBefore = load.errorCount();
    await f.inject();
    if (name === 'disk_full') {
      const failed = await until(async () => {
        if (load.errorCount() > errorsBefore) return true;
        return ((await eventCounts(stack.agentLog, logFrom)).receipt_failed ?? 0) > 0;
      }, 30_000);
      figures.push({
        metric: 'first_failure_ms',
        value: failed ? Math.round(performance.now() - t0) : -1,
        unit: 'ms',
        baseline: null,
      });
    }
    await sleep(f.holdMs);
    await f.restore();
    figures.push({
      metric: 'fault_ms',
      value: Math.round(performance.now() - t0),
      unit: 'ms',
      baseline: null,
    });
    const recovery = watchRecovery(stack, load, o.settleMs);
    await sleep(o.aroundMs);
    const result = await load.stop();
    const { recovered, l1 } = await recovery;
    figures.push(
      { metric: 'recover_ms', value: Math.round(recovered), unit: 'ms', baseline: null },
      { metric: 'l1_again_ms', value: Math.round(l1), unit: 'ms', baseline: null },
      ...(await account(stack, o, name, result)),
    );
    const events = await eventCounts(stack.agentLog, logFrom);
    for (const [k, v] of Object.entries(events))
      figures.push({ metric: `agent_event.${k}`, value: v, unit: 'events', baseline: null });
    return figures;
  } finally {
    await load.stop();
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
