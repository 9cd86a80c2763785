/**
 * IMA figures (issue 4): parse, replay (sha256 bank) and appraise a 300,000-entry ima-ng log
 * against a ~100,000-digest Keylime policy on one core (target <= 1 s in total, <= 300 MB
 * resident), entries per second for each step separately, and an incremental delta of 1,000
 * entries (target <= 10 ms). Baselines from the same run: one SHA-256 pass over the log's
 * bytes, and the floor of replay (the two one-shot hashes per entry it cannot avoid).
 *
 * The measuring runs in child processes, so that each peak RSS is the policy load, parse,
 * replay and appraisal alone, not the generator's. The main child runs the columnar path
 * (parseBinaryColumns, replayColumns, appraiseColumns) with Node's default flags: its figures
 * are the headline ones (`rss_peak`). Two more children, for comparison in the same run: the
 * columnar path with --max-semi-space-size=8 (`rss_peak_semi_space_8`), and the object path
 * (parseBinaryLog, replay, appraise over ImaEntry objects) with default flags
 * (`*_objects`): per-entry objects that survive the parse grow V8's young generation and the
 * peak RSS with it. The generated log is cached in the temp directory (seeded, so always the
 * same bytes). TMB_BENCH_IMA_ENTRIES overrides the size.
 *
 * Reading as `tmb ima replay` does (issue 10): two more children read the same list from its
 * file, streamed (readChunks + LogReader, the CLI's path), in its binary and its ASCII form,
 * then replay it (sha256 bank, template hashes checked). `read_ms_ascii` has the binary time
 * as baseline and `read_ratio_ascii_binary` is their ratio (target <= 1.3); `rss_peak_read_*`
 * are the peaks of those children (Keylime's verifier holds 211 MB for a 300,000-entry list).
 */
import { spawnSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '@tmb/core';
import {
  advanceIma,
  appraise,
  appraiseColumns,
  compilePolicy,
  createPolicy,
  formatAsciiLog,
  initialImaState,
  parseBinaryColumns,
  parseBinaryLog,
  parseRuntimePolicy,
  replay,
  replayColumns,
} from '@tmb/core/ima';
import { readLog } from '../packages/cli/src/commands/ima.ts';
import { readChunks } from '../packages/cli/src/input.ts';
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
  const child = (flags: string[], mode: Mode) => {
    const c = spawnSync(
      process.execPath,
      [...flags, import.meta.filename, '--child', mode, log, delta, policy],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    );
    if (c.status !== 0) throw new Error(`ima bench child failed: ${c.stderr}`);
    return c.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as BenchRecord);
  };
  yield* child([], 'columns');
  const pick = (rs: BenchRecord[], metric: string, as: string) => ({
    ...rs.find((r) => r.metric === metric)!,
    metric: as,
  });
  const semi = child(['--max-semi-space-size=8'], 'columns');
  yield pick(semi, 'rss_peak', 'rss_peak_semi_space_8');
  const objects = child([], 'objects');
  yield pick(objects, 'rss_peak', 'rss_peak_objects');
  yield pick(objects, 'total_ms', 'total_ms_objects');
  // Reading from the file as the CLI does, each form in its own process; interleaved runs, the
  // median of each, since the machine is shared.
  const text = `${log}.txt`;
  if (!existsSync(text)) writeFileSync(text, formatAsciiLog(parseBinaryLog(readFileSync(log))));
  const reads = (path: string) => {
    const c = spawnSync(process.execPath, [import.meta.filename, '--read', path], { encoding: 'utf8' });
    if (c.status !== 0) throw new Error(`ima bench read child failed: ${c.stderr}`);
    return JSON.parse(c.stdout) as { ms: number; parseMs: number; rss: number; entries: number };
  };
  const bin: ReturnType<typeof reads>[] = [];
  const asc: ReturnType<typeof reads>[] = [];
  for (let i = 0; i < 3; i++) {
    bin.push(reads(log));
    asc.push(reads(text));
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const b = {
    ms: med(bin.map((r) => r.ms)),
    parse: med(bin.map((r) => r.parseMs)),
    rss: med(bin.map((r) => r.rss)),
  };
  const a = {
    ms: med(asc.map((r) => r.ms)),
    parse: med(asc.map((r) => r.parseMs)),
    rss: med(asc.map((r) => r.rss)),
  };
  const r2 = (x: number) => Math.round(x * 100) / 100;
  yield { bench: 'ima', metric: 'read_ms_ascii', value: r2(a.ms), unit: 'ms', baseline: r2(b.ms) };
  yield {
    bench: 'ima',
    metric: 'read_parse_ms_ascii',
    value: r2(a.parse),
    unit: 'ms',
    baseline: r2(b.parse),
  };
  yield {
    bench: 'ima',
    metric: 'read_ratio_ascii_binary',
    value: r2(a.ms / b.ms),
    unit: 'ratio',
    baseline: null,
  };
  yield {
    bench: 'ima',
    metric: 'rss_peak_read_ascii',
    value: r2(a.rss / 1e6),
    unit: 'MB',
    baseline: r2(b.rss / 1e6),
  };
  yield { bench: 'ima', metric: 'rss_peak_read_binary', value: r2(b.rss / 1e6), unit: 'MB', baseline: 211 };
}

/** One read as `tmb ima replay FILE` does it: streamed parse, then the sha256 replay with checks. */
async function measureRead(
  path: string,
): Promise<{ ms: number; parseMs: number; rss: number; entries: number }> {
  const t = performance.now();
  const cols = await readLog(readChunks(path, { chunkBytes: 1 << 20 }), path, { maxBytes: 2 ** 32 - 1 });
  const parseMs = performance.now() - t;
  const r = replayColumns(cols, { bank: 'sha256', checkTemplateHash: true });
  if (r.templateHashMismatches.length !== 0) throw new Error('template hash mismatch in the bench list');
  return {
    ms: performance.now() - t,
    parseMs,
    rss: process.resourceUsage().maxRSS * 1024,
    entries: cols.length,
  };
}

/** Which API the child measures: typed-array columns, or ImaEntry objects. */
type Mode = 'columns' | 'objects';

/** The measuring half, in its own process. */
function measure(mode: Mode, logPath: string, deltaPath: string, policyPath: string): BenchRecord[] {
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

  let parseMs: number;
  let replayMs: number;
  let appraiseMs: number;
  let pcr: Uint8Array;
  let failures: number;
  // Template data spans, for the floor below (an ima-ng log: the hash input is the data itself).
  let spans: (i: number) => Uint8Array;
  let count: number;
  if (mode === 'columns') {
    t = performance.now();
    const cols = parseBinaryColumns(full);
    parseMs = performance.now() - t;
    t = performance.now();
    pcr = replayColumns(cols, { bank: 'sha256' }).pcr;
    replayMs = performance.now() - t;
    t = performance.now();
    failures = appraiseColumns(cols, compiled).failures.length;
    appraiseMs = performance.now() - t;
    count = cols.length;
    spans = (i) => full.subarray(cols.dataAt[i]!, cols.dataAt[i]! + cols.dataLength[i]!);
  } else {
    t = performance.now();
    const entries = parseBinaryLog(full);
    parseMs = performance.now() - t;
    t = performance.now();
    pcr = replay(entries, { bank: 'sha256' }).pcr;
    replayMs = performance.now() - t;
    t = performance.now();
    failures = appraise(entries, compiled).failures.length;
    appraiseMs = performance.now() - t;
    count = entries.length;
    spans = (i) => entries[i]!.templateData;
  }
  const rssPeak = process.resourceUsage().maxRSS * 1024;

  // Replay's floor: the two one-shot SHA-256 calls per entry (template data, then the extend),
  // with the cheapest output (a latin1 string), and nothing else.
  const pad = new Uint8Array(64);
  t = performance.now();
  for (let i = 0; i < count; i++) {
    hash('sha256', spans(i), 'binary');
    hash('sha256', pad, 'binary');
  }
  const floorMs = performance.now() - t;

  // Incremental: the state after the full log, then one delta of DELTA entries (parse, replay
  // against the quote, appraise the fresh entries), timed from a fresh copy of the state each time.
  // The state advanceIma leaves after a full log whose quote covers all of it (built here, not
  // replayed again: that would need the 300,000 entries as objects, whose promotion then lands
  // as a GC pause in a timed delta). Each delta checks it: its replay must pass.
  const state = { ...initialImaState('sha256', 10, 1), pcr: toHex(pcr), nextIndex: ENTRIES };
  const quoted = replay(parseBinaryLog(delta, { firstIndex: ENTRIES }), {
    bank: 'sha256',
    initial: pcr,
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
  rec('appraise_failures', failures, 'entries');
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

if (import.meta.main && process.argv[2] === '--read') {
  process.stdout.write(`${JSON.stringify(await measureRead(process.argv[3]!))}\n`);
}

if (import.meta.main && process.argv[2] === '--child') {
  const [mode, log, delta, policy] = process.argv.slice(3) as [Mode, string, string, string];
  for (const r of measure(mode, log, delta, policy)) process.stdout.write(`${JSON.stringify(r)}\n`);
}
