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
 * its own. With `--kernel sim` (the default) each swtpm has a simulated measured boot
 * (bench/scale/kernel.ts: the demo's simulated UEFI firmware log and a simulated kernel's IMA log,
 * every extend made on that swtpm), each host's kernel logs `--kernel-rate` entries a second while
 * the load runs, and each evidence carries the kernel entries since its last quote (the boot log
 * when the verifier asks), which the verifier replays and appraises against the runtime and boot
 * policies it is given: receipts reach L1, and kernel replay is in the measured cost. `--kernel
 * none`: evidence `kernel: null`, receipts below L1 (host.integrity KERNEL_LOG_ABSENT), the cost
 * without it.
 * Load threads (one per swtpm, worker threads) generate the load; verifiers are child processes.
 * Agent i always talks to verifier i mod V (a load balancer keeping an agent on one process).
 * Setup (swtpm manufacture, enrolment, a warm-up cycle) is not measured. Baselines, same run:
 * appraisals vs the signature-and-parse floor of one appraisal in-process; receipts vs core's
 * checkSignedReceipt; verdict reads vs GET /healthz on the same connection. On a shared machine
 * the load generator and the swtpms compete with the verifiers for the cores: read
 * `appraisals_per_verifier_cpu_s` (appraisals per second of verifier CPU) as the capacity of one
 * dedicated core. `--cpu-prof DIR` profiles each verifier during the measured phase (node:inspector) and
 * prints its top self-time functions to standard error. Store (`--store auto|sqlite|postgres`):
 * a private PostgreSQL cluster when PostgreSQL is installed, else SQLite, named in the `store` line;
 * `--pg-transport unix|tcp`: the verifiers reach it over its unix socket (default) or TCP.
 * `--receipts-phase S`: S more seconds of receipt pushes only, as fast as the verifiers take them
 * (bounded in flight per load thread), the receipts capacity per process and per verifier
 * CPU-second. Ctrl-C (SIGINT, SIGTERM) at any point stops every process and thread it started and
 * removes its temporary folders (bench/scale/teardown.ts), then exits 130 (143).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { simulatedBootPolicy } from '@tmb/demo';
import type { BenchRecord } from './record.ts';
import { appraisalFloor, receiptFloor } from './scale/floor.ts';
import { BOOT_FILES, benchImaPolicy } from './scale/kernel.ts';
import {
  type LoadThread,
  type ProcStats,
  startLoadThread,
  startVerifierProc,
  type VerifierProc,
} from './scale/procs.ts';
import { inclusiveShare, topSelfTime } from './scale/profile.ts';
import { capacityRecords, scaleRecords } from './scale/report.ts';
import { failures, type LoadResult, merge } from './scale/result.ts';
import { type BenchStore, openBenchStore } from './scale/store.ts';
import { Teardown } from './scale/teardown.ts';
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
  /**
   * `sim` (default): each swtpm gets a simulated measured boot and each evidence carries the
   * kernel IMA entries since its last quote (receipts reach L1); `none`: `kernel: null`, the
   * cost before the simulated boot (receipts below L1).
   */
  kernel: 'sim' | 'none';
  /** Kernel IMA entries each simulated host logs a second while the load runs (`sim` only). */
  kernelRate: number;
  /**
   * Seconds of the receipts capacity phase after the measured one (`--receipts-phase S`): receipt
   * batches only, pushed as fast as the verifiers take them (RECEIPTS_IN_FLIGHT per load thread).
   * 0 (default): none.
   */
  receiptsPhase: number;
  /** Receipts per push in that phase (`--receipts-batch`, default 64). */
  receiptsBatch: number;
  /** Most milliseconds each same-run floor measures (default 3,000; tests give less). */
  floorMs?: number;
  /** The shared database: PostgreSQL when it can be had (auto), or as named. */
  store: 'auto' | 'sqlite' | 'postgres';
  /**
   * How the verifiers reach PostgreSQL (`--pg-transport`): `unix` (default) over the server's
   * unix-domain socket when it has one (a private cluster's, or scripts/pg-start's in
   * TMB_TEST_PG_DIR), else TCP; `tcp` over 127.0.0.1. The `store` record says which.
   */
  pgTransport?: 'unix' | 'tcp';
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
      'pg-transport': { type: 'string' },
      kernel: { type: 'string' },
      'kernel-rate': { type: 'string' },
      'receipts-phase': { type: 'string' },
      'receipts-batch': { type: 'string' },
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
    kernel: values.kernel === 'none' ? 'none' : 'sim',
    kernelRate: int(values['kernel-rate'], 1),
    receiptsPhase: int(values['receipts-phase'], 0),
    receiptsBatch: Math.max(1, int(values['receipts-batch'], 64)),
    store: values.store === 'sqlite' || values.store === 'postgres' ? values.store : 'auto',
    pgTransport: values['pg-transport'] === 'tcp' ? 'tcp' : 'unix',
    log: (line) => process.stderr.write(`scale: ${line}\n`),
  };
}

/** The verifier options file's contents (mode 0600: it holds the tokens and the database URL). */
function verifierConfig(o: ScaleOptions, store: BenchStore, tpms: StartedTpm[], agents: SimAgentId[]) {
  return {
    ...store.options,
    tokens: agents.map((a) => ({ token: a.token, agent: a.name })),
    // Every swtpm_setup here made its own local CA: trust each.
    tpmRoots: tpms.flatMap((t) => t.roots),
    // What the simulated boot satisfies (bench/scale/kernel.ts): receipts reach L1.
    ...(o.kernel === 'sim'
      ? { imaPolicy: JSON.stringify(benchImaPolicy()), bootPolicy: JSON.stringify(simulatedBootPolicy()) }
      : {}),
  };
}

interface SimAgentId {
  name: string;
  token: string;
}

/** Runs the bench with `o`; yields its records. The last run's load result is in `lastScaleResult`. */
export async function* runScale(o: ScaleOptions): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-scale-'));
  const teardown = new Teardown(o.log);
  teardown.add('the temporary folder', () => rm(dir, { recursive: true, force: true }));
  const offSignals = teardown.onSignals();
  const tpms: StartedTpm[] = [];
  const verifiers: VerifierProc[] = [];
  const threads: LoadThread[] = [];
  try {
    o.log(`temporary folder ${dir}`);
    o.log(
      `manufacturing ${o.tpms} swtpm instance(s)${o.kernel === 'sim' ? ', each with a simulated measured boot' : ''}`,
    );
    try {
      for (let k = 0; k < o.tpms; k++) {
        const t = await startTpm(join(dir, `tpm${k}`), o.kernel === 'sim');
        teardown.add(`swtpm ${t.pid}`, t.stop);
        tpms.push(t);
      }
    } catch (err) {
      o.log(
        `needs swtpm and tpm2-tools (apt-get install swtpm swtpm-tools tpm2-tools); skipped: ${String(err)}`,
      );
      return;
    }
    const bench = 'scale';
    const store = await openBenchStore(dir, o.store, o.log, o.pgTransport ?? 'unix');
    teardown.add('the database', store.close);
    for (const d of store.dirs) o.log(`temporary folder ${d}`);
    yield { bench, metric: 'store', value: 0, unit: store.label, baseline: null };
    yield {
      bench,
      metric: 'kernel',
      value: o.kernel === 'sim' ? o.kernelRate : 0,
      unit:
        o.kernel === 'sim'
          ? `entries/s per host (simulated boot: UEFI log, ${BOOT_FILES + 2} IMA entries at boot; IMA and boot policies)`
          : 'none (kernel: null, receipts below L1)',
      baseline: null,
    };
    const agents = Array.from({ length: o.agents }, (_, i) => ({
      name: `scale-${i}`,
      token: randomBytes(24).toString('base64url'),
    }));
    const configPath = join(dir, 'verifier.json');
    await writeFile(configPath, JSON.stringify(verifierConfig(o, store, tpms, agents)), { mode: 0o600 });
    if (o.cpuProfDir !== null) await mkdir(o.cpuProfDir, { recursive: true });
    // One after the other: the first creates the schema.
    for (let v = 0; v < o.verifiers; v++) {
      const p = await startVerifierProc(configPath);
      teardown.add(`verifier ${p.pid}`, p.close);
      verifiers.push(p);
    }
    const before = await Promise.all(verifiers.map((v) => v.stats()));
    const urls = verifiers.map((v) => v.url);
    o.log(`${o.verifiers} verifier process(es) up; enrolling ${o.agents} agents`);
    for (let k = 0; k < o.tpms; k++) {
      const mine = agents.filter((_, i) => i % o.tpms === k);
      const t = await startLoadThread({ host: tpms[k]!.host, verifiers: urls, agents: mine }, 3_600_000);
      teardown.add('a load thread', t.close);
      threads.push(t);
    }
    await Promise.all(threads.map((t) => t.enrol()));
    yield* measure(o, { store, verifiers, threads, tpms, before, dir });
  } finally {
    await teardown.run();
    offSignals();
    if (o.cpuProfDir !== null) await printProfiles(o.cpuProfDir, o.log);
  }
}

/** Warm-up rounds at most, and cycles in flight per load thread during them. */
const WARM_ROUNDS = 3;
const WARM_IN_FLIGHT = 64;

/** The warm-up, the measured phase and its records (runScale's second half). */
async function* measure(
  o: ScaleOptions,
  r0: {
    store: BenchStore;
    verifiers: VerifierProc[];
    threads: LoadThread[];
    tpms: StartedTpm[];
    before: ProcStats[];
    dir: string;
  },
): AsyncGenerator<BenchRecord> {
  const { store, verifiers, threads, tpms } = r0;
  const kernelRate = o.kernel === 'sim' ? o.kernelRate : 0;
  // Warm-up: each agent's first evidence (its first quoted checkpoint, the whole kernel and boot
  // logs with a simulated boot), not measured.
  // At most WARM_IN_FLIGHT at once per thread (a first appraisal replays the whole kernel log:
  // queued deeper, nonces could expire), and up to WARM_ROUNDS rounds for agents refused.
  const rounds: LoadResult[] = [];
  for (let i = 0; i < WARM_ROUNDS; i++) {
    const plan = {
      seconds: 1,
      receiptsPerCycle: 1,
      verdictEvery: 0,
      once: true,
      // The kernel log stands still while agents warm up: each starts the measured phase current.
      kernelRate: 0,
      inFlight: WARM_IN_FLIGHT,
    };
    const round = merge(await Promise.all(threads.map((t) => t.run(plan))));
    rounds.push(round);
    if (round.accepted === round.cycles && round.errors.length === 0) break;
  }
  const warm = merge(rounds);
  if (warm.accepted !== o.agents || warm.errors.length > 0)
    o.log(
      `warm-up: ${o.agents - warm.accepted} agents never accepted; ${warm.cycles - warm.accepted} refused, ${warm.errors.length} errors: ${failures(warm)}`,
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
      t.run({ seconds: o.seconds, receiptsPerCycle: o.receipts, verdictEvery: o.verdictEvery, kernelRate }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const after = await Promise.all(verifiers.map((v) => v.stats()));
  const db1 = await store.cpuSeconds();
  if (prof !== null) await Promise.all(verifiers.map((v) => v.profileStop(prof)));
  const r = merge(results);
  const capacity = o.receiptsPhase > 0 ? await receiptsPhase(o, verifiers, threads) : null;
  lastScaleResult = {
    warm,
    measured: r,
    dir: r0.dir,
    dirs: [r0.dir, ...store.dirs],
    pids: [...tpms.map((t) => t.pid), ...verifiers.map((v) => v.pid)],
  };
  if (r.refusals.length > 0 || r.errors.length > 0)
    o.log(`refused ${r.cycles - r.accepted}, errors ${r.errors.length}: ${failures(r)}`);
  // The swtpm serves one connection at a time: the load threads let go before the floor's quote.
  for (const t of threads.splice(0)) await t.close();
  o.log(
    `cycle steps, mean ms: ${Object.entries(r.steps)
      .map(([k, v]) => `${k} ${(v / Math.max(1, r.cycles)).toFixed(1)}`)
      .join(', ')}`,
  );
  const pcr10 = results[0]?.pcr10 ?? null;
  const receiptsFloor = receiptFloor(o.floorMs);
  yield* scaleRecords({
    o,
    r,
    seconds,
    cpuS: after.reduce((s, a, i) => s + (a.cpuUs - enrolled[i]!.cpuUs), 0) / 1e6,
    dbCpuS: db0 !== null && db1 !== null ? db1 - db0 : null,
    floor: await appraisalFloor(
      tpms[0]!.host,
      pcr10 === null ? null : Uint8Array.from(Buffer.from(pcr10, 'hex')),
      o.floorMs,
    ),
    receiptsFloor,
    before: r0.before,
    enrolled,
    storeEnrolled,
    storeAfter: await store.bytes(),
  });
  if (capacity !== null) yield* capacityRecords({ ...capacity, verifiers: o.verifiers, receiptsFloor });
}

/** Most receipt pushes in flight per load thread in the receipts capacity phase. */
const RECEIPTS_IN_FLIGHT = 32;

/** The receipts capacity phase: what it pushed, over how long, and the verifiers' CPU for it. */
async function receiptsPhase(o: ScaleOptions, verifiers: VerifierProc[], threads: LoadThread[]) {
  o.log(
    `receipts capacity: ${o.receiptsPhase} s of ${o.receiptsBatch}-receipt pushes, ${RECEIPTS_IN_FLIGHT} in flight per load thread`,
  );
  const before = await Promise.all(verifiers.map((v) => v.stats()));
  const t0 = performance.now();
  const plan = { seconds: o.receiptsPhase, batch: o.receiptsBatch, inFlight: RECEIPTS_IN_FLIGHT };
  const r = merge(await Promise.all(threads.map((t) => t.push(plan))));
  const seconds = (performance.now() - t0) / 1000;
  const after = await Promise.all(verifiers.map((v) => v.stats()));
  if (r.refusals.length > 0 || r.errors.length > 0)
    o.log(`receipts capacity: refused ${r.cycles - r.accepted}, errors ${r.errors.length}: ${failures(r)}`);
  const cpuS = after.reduce((s, a, i) => s + (a.cpuUs - before[i]!.cpuUs), 0) / 1e6;
  return { result: r, seconds, cpuS };
}

/** What the profile summary names: the kernel replay and boot log appraisal, by function. */
const KERNEL_FUNCTIONS: [string, string[]][] = [
  ['kernel IMA log replay and fold (appraiseKernel)', ['appraiseKernel']],
  ['boot event log appraisal (appraiseBoot)', ['appraiseBoot']],
  ['evidence body kernel members parse (kernelMembers)', ['kernelMembers']],
];

async function printProfiles(dir: string, log: (line: string) => void): Promise<void> {
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    log(`profile ${join(dir, f)}: top self time`);
    for (const t of await topSelfTime(join(dir, f))) log(`  ${t.share.toFixed(1).padStart(5)}%  ${t.fn}`);
    log(`profile ${join(dir, f)}: time by nearest packages/ function (native calls charged to their caller)`);
    for (const t of await topSelfTime(join(dir, f), 20, 'project'))
      log(`  ${t.share.toFixed(1).padStart(5)}%  ${t.fn}`);
    // Kernel and boot log appraisal (packages/verifier/src/attest/kernel.ts, boot.ts), inclusive.
    for (const [what, names] of KERNEL_FUNCTIONS)
      log(`  ${(await inclusiveShare(join(dir, f), names)).toFixed(1).padStart(5)}%  ${what} (inclusive)`);
  }
}

/**
 * What the last runScale measured (warm-up and measured phase), its temporary folder and the
 * process ids it started (swtpm, verifiers), for bench/test/scale.test.ts.
 */
export let lastScaleResult: {
  warm: LoadResult;
  measured: LoadResult;
  dir: string;
  /** Every temporary folder it made (its own, and a private PostgreSQL cluster's). */
  dirs: string[];
  pids: number[];
} | null = null;

export async function* run(): AsyncGenerator<BenchRecord> {
  yield* runScale(scaleOptions(process.argv.slice(2)));
}
