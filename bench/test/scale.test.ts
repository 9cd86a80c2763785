import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { pgSkip } from '../../test/fixtures/pg.ts';
import type { BenchRecord } from '../record.ts';
import { lastScaleResult, runScale } from '../scale.bench.ts';

const tools = ['swtpm', 'swtpm_setup', 'tpm2_quote'].filter((t) => spawnSync('which', [t]).status !== 0);
const skip =
  tools.length > 0 ? `needs ${tools.join(', ')}: apt-get install swtpm swtpm-tools tpm2-tools` : false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// What a receipt of a simulated agent cannot pass: it has no client bytes (receipt.exchange stays
// asserted). Every TPM check (quote, key binding, inclusion in a quoted checkpoint) and, with the
// simulated boot, the kernel and boot log checks must pass: L1. With `--kernel none` the bench
// sends no kernel IMA log or boot log, so L1 is out of reach.
const EXPECTED_NOT_PASSED = {
  sim: new Set(['receipt.exchange:asserted']),
  none: new Set([
    'receipt.exchange:asserted',
    'host.integrity:fail:KERNEL_LOG_ABSENT',
    'host.boot:fail:BOOT_LOG_ABSENT',
  ]),
};

/** One cheap run on `store`: every evidence accepted, verdicts at the expected level, clean exit. */
async function cheapRun(
  store: 'sqlite' | 'postgres',
  kernel: 'sim' | 'none',
  receiptsPhase = 0,
): Promise<void> {
  const lines: string[] = [];
  for await (const r of runScale({
    agents: 20,
    seconds: 1,
    tpms: 1,
    verifiers: 2,
    receipts: 2,
    verdictEvery: 1,
    cpuProfDir: null,
    kernel,
    kernelRate: 5,
    receiptsPhase,
    receiptsBatch: 8,
    floorMs: 200,
    store,
    log: () => {},
  }))
    lines.push(JSON.stringify(r));
  const records = lines.map((l) => JSON.parse(l) as BenchRecord);
  for (const r of records) {
    assert.equal(r.bench, 'scale');
    assert.equal(typeof r.metric, 'string');
    assert.equal(typeof r.value, 'number');
    assert.ok(Number.isFinite(r.value), `${r.metric} is ${r.value}`);
    assert.equal(typeof r.unit, 'string');
  }
  const metrics = records.map((r) => r.metric);
  assert.match(
    records.find((r) => r.metric === 'store')?.unit ?? '',
    store === 'sqlite' ? /^sqlite/ : /^postgres/,
  );
  for (const m of [
    'store',
    'appraisals_per_s_per_process',
    'appraisals_per_verifier_cpu_s',
    'receipts_per_s_per_process',
    'verdict_p50_ms',
    'verdict_p99_ms',
    'rss_bytes_per_agent',
    'heap_bytes_per_agent',
    'store_bytes_per_agent',
    'store_growth_bytes_per_agent_s',
    'store_growth_bytes_per_appraisal',
  ])
    assert.ok(metrics.includes(m), `no ${m} line`);
  if (receiptsPhase > 0) {
    const refused = records.find((r) => r.metric === 'receipts_capacity_refused');
    assert.equal(refused?.value, 0, 'every capacity push taken');
    assert.ok((refused?.baseline ?? 0) > 0, 'some capacity pushes made');
    for (const m of ['receipts_capacity_per_s_per_process', 'receipts_capacity_per_verifier_cpu_s'])
      assert.ok((records.find((r) => r.metric === m)?.value ?? 0) > 0, `no ${m} line`);
  }
  const result = lastScaleResult;
  assert.ok(result !== null);
  // Enrolment and the warm-up: every agent's first evidence was appraised and accepted.
  assert.equal(result.warm.cycles, 20);
  assert.equal(result.warm.accepted, 20, JSON.stringify(result.warm.refusals));
  const m = result.measured;
  assert.deepEqual(m.errors, []);
  assert.deepEqual(m.refusals, []);
  assert.ok(m.cycles > 0);
  assert.equal(m.accepted, m.cycles);
  assert.equal(m.receipts, 2 * m.cycles);
  assert.ok(m.verdicts.length > 0);
  for (const v of m.verdicts) {
    assert.equal(v.status, 200, v.body);
    assert.equal(v.level, kernel === 'sim' ? 'L1' : 'L0', JSON.stringify(v.notPassed));
    for (const c of v.notPassed) assert.ok(EXPECTED_NOT_PASSED[kernel].has(c), `unexpected check ${c}`);
  }
  // The simulated kernel logged entries while the load ran, and the evidence carried them.
  if (kernel === 'sim') assert.ok(m.kernelEntries > 0, 'no kernel entries replayed');
  else assert.equal(m.kernelEntries, 0);
  // Cleaned up: its temporary folder and every process it started are gone.
  for (const d of result.dirs) assert.equal(existsSync(d), false, `${d} left behind`);
  for (const pid of result.pids) assert.equal(alive(pid), false, `process ${pid} still running`);
}

test(
  'scale bench on SQLite: 20 agents on a real swtpm with a simulated boot, 2 verifier processes, every evidence accepted, verdicts at L1',
  { skip },
  () => cheapRun('sqlite', 'sim'),
);

test(
  'scale bench on PostgreSQL with --kernel none: the same, verdicts at L0; a receipts capacity phase',
  // Skips only where swtpm/tpm2-tools (skip) or PostgreSQL (pgSkip) is absent, each message
  // naming the apt-get line; .ci/run installs both and starts PostgreSQL, so CI runs this test.
  { skip: skip || pgSkip() },
  () => cheapRun('postgres', 'none', 1),
);
