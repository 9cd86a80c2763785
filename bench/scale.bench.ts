/**
 * Scale (issue 12, item 3): N simulated agents (`--agents`, default 10,000), each posting TPM
 * evidence once a second (spread over the second) and `--receipts` receipts before each, to V
 * verifier processes (`--verifiers`, default 2) on one database, for `--seconds` (default 20).
 * Every agent is enrolled as `tmb agent` enrols: its own Ed25519 receipt key, the EK (with its
 * certificate) and AK of one of K real swtpm instances (`--tpms`, default 2), the AK activated by
 * ActivateCredential on that swtpm for this agent's own challenge, the swtpm's checkpoint key
 * certified by the AK for this agent's receipt key. Each evidence is quoted by the swtpm over the
 * nonce the verifier has just issued, and its checkpoint co-signed by the swtpm: nothing the
 * verifier checks for freshness is pre-computed, and the verifier appraises it all as it would an
 * agent's (no test flag). What the agents share: the K TPMs (so K EKs and AKs, one checkpoint key
 * each), which the verifier allows (it keeps no EK-to-agent index); on real hosts each agent has
 * its own. What is not simulated: the kernel's IMA log and boot log (evidence `kernel: null`):
 * receipts then verify their quote, inclusion and key binding but stay below L1
 * (host.integrity KERNEL_LOG_ABSENT), and kernel replay is not in the measured cost.
 *
 * Load threads (one per swtpm, worker threads) generate the load; verifiers are child processes.
 * Agent i always talks to verifier i mod V (a load balancer keeping an agent on one process).
 * Setup (swtpm manufacture, enrolment, a warm-up cycle) is not measured. Baselines, same run:
 * appraisals vs the signature-and-parse floor of one appraisal in-process; receipts vs core's
 * checkSignedReceipt; verdict reads vs GET /healthz on the same connection. On a shared machine
 * the load generator and the swtpms compete with the verifiers for the cores: read
 * `appraisals_per_verifier_cpu_s` (appraisals per second of verifier CPU) as the capacity of one
 * dedicated core. `--cpu-prof DIR` profiles each verifier during the measured phase (node:inspector) and
 * prints its top self-time functions to standard error. Store (`--store auto|sqlite|postgres`):
 * a private PostgreSQL cluster when PostgreSQL is installed, else SQLite, named in the `store` line.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type BenchRecord, percentile } from './record.ts';
import { appraisalFloor, receiptFloor } from './scale/floor.ts';
import { type LoadThread, startLoadThread, startVerifierProc, type VerifierProc } from './scale/procs.ts';
import { topSelfTime } from './scale/profile.ts';
import { emptyLoadResult, type LoadResult } from './scale/result.ts';
import { type BenchStore, openBenchStore } from './scale/store.ts';
import { type StartedTpm, startTpm } from './scale/tpms.ts';

/** The bench's knobs (flags of `npm run bench -- scale`). */
export interface ScaleOptions {
  agents: number;
  seconds: number;
  tpms: number;
  verifiers: number;
  /** Receipts each agent pushes before each evidence (once a second). */
  receipts: number;
  /** One verdict read per this many accepted evidence posts. */
  verdictEvery: number;
  /** Profile each verifier (--cpu-prof) into this folder; null: no profile. */
  cpuProfDir: string | null;
  /** The shared database: PostgreSQL when it can be had (auto), or as named. */
  store: 'auto' | 'sqlite' | 'postgres';
  /** Where progress lines go (standard error by default). */
  log: (line: string) => void;
}

/** Options from `npm run bench -- scale` flags. */
export function scaleOptions(argv: string[]): ScaleOptions {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    options: {
      agents: { type: 'string' },
      seconds: { type: 'string' },
      tpms: { type: 'string' },
      verifiers: { type: 'string' },
      receipts: { type: 'string' },
      'cpu-prof': { type: 'string' },
      store: { type: 'string' },
    },
  });
  const int = (v: unknown, d: number) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : d);
  return {
    agents: Math.max(1, int(values.agents, 10_000)),
    seconds: Math.max(1, int(values.seconds, 20)),
    tpms: Math.max(1, int(values.tpms, 2)),
    verifiers: Math.max(1, int(values.verifiers, 2)),
    receipts: int(values.receipts, 4),
    verdictEvery: 20,
    cpuProfDir: typeof values['cpu-prof'] === 'string' ? resolve(values['cpu-prof']) : null,
    store: values.store === 'sqlite' || values.store === 'postgres' ? values.store : 'auto',
    log: (line) => process.stderr.write(`scale: ${line}\n`),
  };
}

function merge(results: LoadResult[]): LoadResult {
  const all = emptyLoadResult();
  for (const r of results) {
    all.cycles += r.cycles;
    all.accepted += r.accepted;
    all.receipts += r.receipts;
    all.late += r.late;
    all.refusals.push(...r.refusals);
    all.errors.push(...r.errors);
    all.verdictMs.push(...r.verdictMs);
    all.healthMs.push(...r.healthMs);
    all.verdicts.push(...r.verdicts);
    for (const [k, v] of Object.entries(r.steps)) all.steps[k] = (all.steps[k] ?? 0) + v;
  }
  return all;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Runs the bench with `o`; yields its records. The last run's load result is in `lastScaleResult`. */
export async function* runScale(o: ScaleOptions): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-scale-'));
  const tpms: StartedTpm[] = [];
  const verifiers: VerifierProc[] = [];
  const threads: LoadThread[] = [];
  let store: BenchStore | null = null;
  try {
    o.log(`manufacturing ${o.tpms} swtpm instance(s)`);
    try {
      for (let k = 0; k < o.tpms; k++) tpms.push(await startTpm(join(dir, `tpm${k}`)));
    } catch (err) {
      o.log(
        `needs swtpm and tpm2-tools (apt-get install swtpm swtpm-tools tpm2-tools); skipped: ${String(err)}`,
      );
      return;
    }
    const bench = 'scale';
    store = await openBenchStore(dir, o.store, o.log);
    yield { bench, metric: 'store', value: 0, unit: store.label, baseline: null };
    const agents = Array.from({ length: o.agents }, (_, i) => ({
      name: `scale-${i}`,
      token: randomBytes(24).toString('base64url'),
    }));
    const configPath = join(dir, 'verifier.json');
    const config = {
      ...store.options,
      tokens: agents.map((a) => ({ token: a.token, agent: a.name })),
      // Every swtpm_setup here made its own local CA: trust each.
      tpmRoots: tpms.flatMap((t) => t.roots),
    };
    await writeFile(configPath, JSON.stringify(config), { mode: 0o600 });
    if (o.cpuProfDir !== null) await mkdir(o.cpuProfDir, { recursive: true });
    // One after the other: the first creates the schema.
    for (let v = 0; v < o.verifiers; v++) verifiers.push(await startVerifierProc(configPath));
    const before = await Promise.all(verifiers.map((v) => v.stats()));
    const urls = verifiers.map((v) => v.url);
    o.log(`${o.verifiers} verifier process(es) up; enrolling ${o.agents} agents`);
    for (let k = 0; k < o.tpms; k++) {
      const mine = agents.filter((_, i) => i % o.tpms === k);
      threads.push(await startLoadThread({ host: tpms[k]!.host, verifiers: urls, agents: mine }, 3_600_000));
    }
    await Promise.all(threads.map((t) => t.enrol()));
    // Warm-up: each agent's first evidence (its first quoted checkpoint), not measured.
    const warm = merge(
      await Promise.all(
        threads.map((t) => t.run({ seconds: 1, receiptsPerCycle: 1, verdictEvery: 0, once: true })),
      ),
    );
    if (warm.accepted !== warm.cycles || warm.errors.length > 0)
      o.log(
        `warm-up: ${warm.cycles - warm.accepted} refused, ${warm.errors.length} errors: ${JSON.stringify([...warm.refusals, ...warm.errors].slice(0, 3))}`,
      );
    const enrolled = await Promise.all(verifiers.map((v) => v.stats()));
    const storeEnrolled = await store.bytes();
    o.log(`measuring ${o.seconds} s: ${o.agents} agents, ${o.receipts} receipts each a second`);
    const prof = o.cpuProfDir;
    if (prof !== null) await Promise.all(verifiers.map((v) => v.profileStart()));
    const db0 = await store.cpuSeconds();
    const t0 = performance.now();
    const results = await Promise.all(
      threads.map((t) =>
        t.run({ seconds: o.seconds, receiptsPerCycle: o.receipts, verdictEvery: o.verdictEvery }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = await Promise.all(verifiers.map((v) => v.stats()));
    const db1 = await store.cpuSeconds();
    if (prof !== null) await Promise.all(verifiers.map((v) => v.profileStop(prof)));
    const r = merge(results);
    lastScaleResult = {
      warm,
      measured: r,
      dir,
      pids: [...tpms.map((t) => t.pid), ...verifiers.map((v) => v.pid)],
    };
    if (r.refusals.length > 0 || r.errors.length > 0)
      o.log(
        `refused ${r.cycles - r.accepted}, errors ${r.errors.length}: ${JSON.stringify([...r.refusals, ...r.errors].slice(0, 3))}`,
      );
    // The swtpm serves one connection at a time: the load threads let go before the floor's quote.
    for (const t of threads.splice(0)) await t.close();
    o.log(
      `cycle steps, mean ms: ${Object.entries(r.steps)
        .map(([k, v]) => `${k} ${(v / Math.max(1, r.cycles)).toFixed(1)}`)
        .join(', ')}`,
    );
    const cpuS = after.reduce((s, a, i) => s + (a.cpuUs - enrolled[i]!.cpuUs), 0) / 1e6;
    const floor = await appraisalFloor(tpms[0]!.host);
    const receiptsFloor = receiptFloor();
    const V = o.verifiers;
    // Posted: cycles run; baseline: offered, one per agent a second. A load thread keeps at most
    // 256 cycles in flight (load.worker.ts): past it, due cycles wait for a free slot.
    yield {
      bench,
      metric: 'evidence_posted_per_s',
      value: Math.round(r.cycles / seconds),
      unit: 'evidence/s',
      baseline: o.agents,
    };
    yield {
      bench,
      metric: 'appraisals_per_s_per_process',
      value: Math.round(r.accepted / seconds / V),
      unit: 'appraisals/s',
      baseline: Math.round(floor),
    };
    yield {
      bench,
      metric: 'appraisals_per_verifier_cpu_s',
      value: Math.round(r.accepted / cpuS),
      unit: 'appraisals/cpu-s',
      baseline: Math.round(floor),
    };
    yield {
      bench,
      metric: 'verifier_cpu_per_process',
      value: r3(cpuS / seconds / V),
      unit: 'cores',
      baseline: null,
    };
    if (db0 !== null && db1 !== null)
      yield {
        bench,
        metric: 'database_cpu',
        value: r3((db1 - db0) / seconds),
        unit: 'cores',
        baseline: null,
      };
    yield {
      bench,
      metric: 'receipts_per_s_per_process',
      value: Math.round(r.receipts / seconds / V),
      unit: 'receipts/s',
      baseline: Math.round(receiptsFloor),
    };
    yield { bench, metric: 'cycles_skipped_busy', value: r.late, unit: 'cycles', baseline: r.cycles };
    const vs = [...r.verdictMs].sort((a, b) => a - b);
    const hs = [...r.healthMs].sort((a, b) => a - b);
    for (const p of [50, 99])
      yield {
        bench,
        metric: `verdict_p${p}_ms`,
        value: r3(percentile(vs, p)),
        unit: 'ms',
        baseline: r3(percentile(hs, p)),
      };
    const perProcess = o.agents / V;
    const avg = (f: (i: number) => number) => verifiers.reduce((s, _, i) => s + f(i), 0) / V;
    yield {
      bench,
      metric: 'rss_bytes_per_agent',
      value: Math.round(avg((i) => enrolled[i]!.rss - before[i]!.rss) / perProcess),
      unit: 'bytes',
      baseline: null,
    };
    yield {
      bench,
      metric: 'heap_bytes_per_agent',
      value: Math.round(avg((i) => enrolled[i]!.heap - before[i]!.heap) / perProcess),
      unit: 'bytes',
      baseline: null,
    };
    yield {
      bench,
      metric: 'store_bytes_per_agent',
      value: Math.round(storeEnrolled / o.agents),
      unit: 'bytes',
      baseline: null,
    };
    yield {
      bench,
      metric: 'store_bytes_per_receipt',
      value: Math.round(((await store.bytes()) - storeEnrolled) / Math.max(1, r.receipts)),
      unit: 'bytes',
      baseline: null,
    };
  } finally {
    for (const t of threads) await t.close();
    for (const v of verifiers) await v.close();
    for (const t of tpms) await t.stop();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    if (o.cpuProfDir !== null) await printProfiles(o.cpuProfDir, o.log);
  }
}

async function printProfiles(dir: string, log: (line: string) => void): Promise<void> {
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    log(`profile ${join(dir, f)}: top self time`);
    for (const t of await topSelfTime(join(dir, f))) log(`  ${t.share.toFixed(1).padStart(5)}%  ${t.fn}`);
    log(`profile ${join(dir, f)}: time by nearest packages/ function (native calls charged to their caller)`);
    for (const t of await topSelfTime(join(dir, f), 20, 'project'))
      log(`  ${t.share.toFixed(1).padStart(5)}%  ${t.fn}`);
  }
}

/**
 * What the last runScale measured (warm-up and measured phase), its temporary folder and the
 * process ids it started (swtpm, verifiers), for bench/test/scale.test.ts.
 */
export let lastScaleResult: { warm: LoadResult; measured: LoadResult; dir: string; pids: number[] } | null =
  null;

export async function* run(): AsyncGenerator<BenchRecord> {
  yield* runScale(scaleOptions(process.argv.slice(2)));
}
