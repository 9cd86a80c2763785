/**
 * The scale bench's records from one measured phase (bench/scale.bench.ts): names are stable
 * (other tools read them); new ones are added, none renamed.
 */
import { type BenchRecord, percentile } from '../record.ts';
import type { ProcStats } from './procs.ts';
import type { LoadResult } from './result.ts';

/** What the measured phase gave, and the same-run baselines. */
export interface MeasuredPhase {
  o: { agents: number; verifiers: number };
  r: LoadResult;
  /** Wall seconds of the measured phase. */
  seconds: number;
  /** Verifier CPU seconds over it, all processes. */
  cpuS: number;
  /** Database server CPU seconds over it (PostgreSQL), or null. */
  dbCpuS: number | null;
  /** Appraisals per CPU-second: signature and parse floor. */
  floor: number;
  /** core checkSignedReceipt per CPU-second. */
  receiptsFloor: number;
  before: ProcStats[];
  enrolled: ProcStats[];
  storeEnrolled: number;
  storeAfter: number;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** The measured phase's records, in their usual order. */
export function scaleRecords(m: MeasuredPhase): BenchRecord[] {
  const bench = 'scale';
  const { r, seconds, cpuS } = m;
  const V = m.o.verifiers;
  const out: BenchRecord[] = [];
  const add = (metric: string, value: number, unit: string, baseline: number | null = null) =>
    out.push({ bench, metric, value, unit, baseline });
  // Posted: cycles run; baseline: offered, one per agent a second. A load thread keeps at most
  // 256 cycles in flight (load.worker.ts): past it, due cycles wait for a free slot.
  add('evidence_posted_per_s', Math.round(r.cycles / seconds), 'evidence/s', m.o.agents);
  add(
    'appraisals_per_s_per_process',
    Math.round(r.accepted / seconds / V),
    'appraisals/s',
    Math.round(m.floor),
  );
  add(
    'appraisals_per_verifier_cpu_s',
    Math.round(r.accepted / cpuS),
    'appraisals/cpu-s',
    Math.round(m.floor),
  );
  add('verifier_cpu_per_process', r3(cpuS / seconds / V), 'cores');
  if (m.dbCpuS !== null) add('database_cpu', r3(m.dbCpuS / seconds), 'cores');
  add(
    'receipts_per_s_per_process',
    Math.round(r.receipts / seconds / V),
    'receipts/s',
    Math.round(m.receiptsFloor),
  );
  add('kernel_entries_per_evidence', r3(r.kernelEntries / Math.max(1, r.accepted)), 'entries');
  add('cycles_skipped_busy', r.late, 'cycles', r.cycles);
  // Sampled verdicts at L1 or above (a simulated boot's receipts reach L1; `--kernel none`'s stay L0).
  add(
    'verdicts_l1',
    r.verdicts.filter((v) => v.level === 'L1' || v.level === 'L2' || v.level === 'L3').length,
    'verdicts',
    r.verdicts.length,
  );
  const vs = [...r.verdictMs].sort((a, b) => a - b);
  const hs = [...r.healthMs].sort((a, b) => a - b);
  for (const p of [50, 99]) add(`verdict_p${p}_ms`, r3(percentile(vs, p)), 'ms', r3(percentile(hs, p)));
  const perProcess = m.o.agents / V;
  const avg = (f: (i: number) => number) => m.before.reduce((s, _, i) => s + f(i), 0) / V;
  add(
    'rss_bytes_per_agent',
    Math.round(avg((i) => m.enrolled[i]!.rss - m.before[i]!.rss) / perProcess),
    'bytes',
  );
  add(
    'heap_bytes_per_agent',
    Math.round(avg((i) => m.enrolled[i]!.heap - m.before[i]!.heap) / perProcess),
    'bytes',
  );
  // After warm-up: each agent's enrolment and first quote, whose archive row holds the boot's
  // whole kernel and boot logs. Growth is what the measured phase added, per agent and second.
  add('store_bytes_per_agent', Math.round(m.storeEnrolled / m.o.agents), 'bytes after warm-up');
  const grown = m.storeAfter - m.storeEnrolled;
  add(
    'store_growth_bytes_per_agent_s',
    Math.round(grown / m.o.agents / Math.max(1e-9, seconds)),
    'bytes/s (receipts, archived quotes, state)',
  );
  add(
    'store_growth_bytes_per_appraisal',
    Math.round(grown / Math.max(1, r.accepted)),
    'bytes (receipts included)',
  );
  add(
    'store_bytes_per_receipt',
    Math.round(grown / Math.max(1, r.receipts)),
    'bytes (all growth / receipts)',
  );
  return out;
}

/** The receipts capacity phase's records (`--receipts-phase`), against checkSignedReceipt's floor. */
export function capacityRecords(c: {
  result: LoadResult;
  seconds: number;
  cpuS: number;
  verifiers: number;
  receiptsFloor: number;
}): BenchRecord[] {
  const bench = 'scale';
  const floor = Math.round(c.receiptsFloor);
  const n = c.result.receipts;
  return [
    {
      bench,
      metric: 'receipts_capacity_per_s_per_process',
      value: Math.round(n / c.seconds / c.verifiers),
      unit: 'receipts/s',
      baseline: floor,
    },
    {
      bench,
      metric: 'receipts_capacity_per_verifier_cpu_s',
      value: Math.round(n / Math.max(1e-6, c.cpuS)),
      unit: 'receipts/cpu-s',
      baseline: floor,
    },
    {
      bench,
      metric: 'receipts_capacity_verifier_cpu_per_process',
      value: r3(c.cpuS / c.seconds / c.verifiers),
      unit: 'cores',
      baseline: null,
    },
    {
      bench,
      metric: 'receipts_capacity_refused',
      value: c.result.cycles - c.result.accepted + c.result.errors.length,
      unit: 'pushes',
      baseline: c.result.cycles,
    },
  ];
}
