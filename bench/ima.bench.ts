/**
 * IMA figures (issue 4): parse, replay (sha256 bank) and appraise a 300,000-entry ima-ng log
 * against a ~100,000-digest Keylime policy on one core (target <= 1 s in total, <= 300 MB
 * resident), entries per second for each step separately, and an incremental delta of 1,000
 * entries (target <= 10 ms). Baselines from the same run: one SHA-256 pass over the log's
 * bytes, and the floor of replay (the two one-shot hashes per entry it cannot avoid).
 *
 * The measuring runs in a child process, so that its peak RSS is the parse, replay and
 * appraisal alone, not the generator's. The child runs with --max-semi-space-size=8: V8's
 * default young generation grows to tens of MB under parse's allocation rate and the peak RSS
 * with it (402 MB against 293 MB, same speed, measured on the dev box); a verifier process
 * sets the same flag. A second child with default flags reports `rss_peak_default_flags`.
 * The generated log is cached in the temp directory (seeded, so always the same bytes).
 * TMB_BENCH_IMA_ENTRIES overrides the size.
 */
import { spawnSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  advanceIma,
  appraise,
  compilePolicy,
  createPolicy,
  initialImaState,
  parseBinaryLog,
  parseRuntimePolicy,
  replay,
  templateHashInput,
} from '@tmb/core/ima';
import { generateBinary } from '../scripts/ima-gen.ts';
import type { BenchRecord } from './record.ts';

const ENTRIES = Number(process.env.TMB_BENCH_IMA_ENTRIES ?? 300_000);
const DELTA = 1000;
const FILES = Math.round(ENTRIES / 3);

/** Writes (once) the full log with DELTA more entries after it, and a policy, to the temp dir. */
function fixture(): { log: string; delta: string; policy: string } {
  const base = join(tmpdir(), `tmb-bench-ima-v2-${ENTRIES}`);
  const log = `${base}.bin`;
  const delta = `${base}.delta.bin`;
  const policy = `${base}.policy.json`;
  if (existsSync(log) && existsSync(delta) && existsSync(policy)) return { log, delta, policy };
  // ima-ng only; FILES distinct paths, each re-measured with a digest it had, so the policy
  // built from the log holds about FILES digests. 1 path in 1,000 is left out of the policy so
  // that appraisal also reports failures.
  const bytes = generateBinary({
    entries: ENTRIES + DELTA,
    seed: 4,
    templates: 'ima-ng',
    files: FILES,
    reuse: 1,
  });
  const entries = parseBinaryLog(bytes);
  const p = createPolicy(entries.slice(0, ENTRIES));
  Object.keys(p.digests).forEach((k, i) => {
    if (i % 1000 === 999) delete p.digests[k];
  });
  const cut = entries[ENTRIES]!.offset;
  writeFileSync(log, bytes.subarray(0, cut));
  writeFileSync(delta, bytes.subarray(cut));
  writeFileSync(policy, JSON.stringify(p));
  return { log, delta, policy };
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const { log, delta, policy } = fixture();
  const child = (flags: string[]) => {
    const c = spawnSync(process.execPath, [...flags, import.meta.filename, '--child', log, delta, policy], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (c.status !== 0) throw new Error(`ima bench child failed: ${c.stderr}`);
    return c.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as BenchRecord);
  };
  yield* child(['--max-semi-space-size=8']);
  const plain = child([]).find((r) => r.metric === 'rss_peak')!;
  yield { ...plain, metric: 'rss_peak_default_flags' };
}

/** The measuring half, in its own process. */
function measure(logPath: string, deltaPath: string, policyPath: string): BenchRecord[] {
  const out: BenchRecord[] = [];
  const rec = (metric: string, value: number, unit: string, baseline: number | null = null) =>
    out.push({ bench: 'ima', metric, value: Math.round(value * 100) / 100, unit, baseline });
  const rssStart = process.memoryUsage().rss;
  // The policy is loaded first, as a verifier does at start; its JSON text is garbage after.
  let t = performance.now();
  const compiled = compilePolicy(parseRuntimePolicy(readFileSync(policyPath, 'utf8')));
  const policyMs = performance.now() - t;
  const digests = [...compiled.digests.values()].reduce(
    (n, s) => n + (Array.isArray(s) ? s.length : (s as ReadonlySet<string>).size),
    0,
  );
  const full: Uint8Array = readFileSync(logPath);
  const delta: Uint8Array = readFileSync(deltaPath);

  t = performance.now();
  hash('sha256', full);
  const rawMs = performance.now() - t;

  t = performance.now();
  const entries = parseBinaryLog(full);
  const parseMs = performance.now() - t;

  t = performance.now();
  const r = replay(entries, { bank: 'sha256' });
  const replayMs = performance.now() - t;

  // Replay's floor: the two one-shot SHA-256 calls per entry (template data, then the extend),
  // with the cheapest output (a latin1 string), and nothing else.
  const pad = new Uint8Array(64);
  t = performance.now();
  for (const e of entries) {
    hash('sha256', templateHashInput(e), 'binary');
    hash('sha256', pad, 'binary');
  }
  const floorMs = performance.now() - t;

  t = performance.now();
  const a = appraise(entries, compiled);
  const appraiseMs = performance.now() - t;
  const rssPeak = process.resourceUsage().maxRSS * 1024;

  // Incremental: the state after the full log, then one delta of DELTA entries (parse, replay
  // against the quote, appraise the fresh entries), timed from a fresh copy of the state each time.
  const state = advanceIma(initialImaState('sha256', 10, 1), {
    startIndex: 0,
    entries,
    quotedPcr: r.pcr,
    resetCount: 1,
  }).state;
  const quoted = replay(parseBinaryLog(delta, { firstIndex: ENTRIES }), {
    bank: 'sha256',
    initial: r.pcr,
  }).pcr;
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    t = performance.now();
    const d = parseBinaryLog(delta, { firstIndex: ENTRIES });
    const step = advanceIma(state, { startIndex: ENTRIES, entries: d, quotedPcr: quoted, resetCount: 1 });
    appraise(step.fresh, compiled);
    times.push(performance.now() - t);
    if (step.checks[0]!.status !== 'pass') throw new Error(`delta did not replay: ${step.checks[0]!.detail}`);
  }
  times.sort((x, y) => x - y);

  const eps = (ms: number) => ENTRIES / (ms / 1000);
  rec('entries', ENTRIES, 'entries');
  rec('policy_digests', digests, 'digests');
  rec('appraise_failures', a.failures.length, 'entries');
  rec('parse_rate', eps(parseMs), 'entries/s');
  rec('replay_rate', eps(replayMs), 'entries/s', eps(floorMs));
  rec('appraise_rate', eps(appraiseMs), 'entries/s');
  rec('policy_load_ms', policyMs, 'ms');
  rec('total_ms', parseMs + replayMs + appraiseMs, 'ms', rawMs);
  rec('rss_peak', rssPeak / 1e6, 'MB', rssStart / 1e6);
  rec('delta_1000_ms_p50', times[15]!, 'ms');
  rec('delta_1000_ms_max', times[times.length - 1]!, 'ms');
  return out;
}

if (import.meta.main && process.argv[2] === '--child') {
  for (const r of measure(process.argv[3]!, process.argv[4]!, process.argv[5]!))
    process.stdout.write(`${JSON.stringify(r)}\n`);
}
