import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BenchRecord } from '../record.ts';
import { FAULTS } from '../soak/phases.ts';
import { DEFAULTS, run, soakOptions } from '../soak.bench.ts';

// Not a timing test: a short run of every code path of the soak bench (stack, soak, each fault
// phase) on a real swtpm, verifier and agent, so that the bench cannot rot. It asserts the JSON
// shape and what must hold at any length: no errors in the soak, no acknowledged receipt lost,
// no verdict left pending. The figures themselves come from `npm run bench -- soak`.

test('soak options: defaults, --minutes, --faults', () => {
  assert.equal(soakOptions([]).seconds, 60);
  assert.equal(soakOptions([]).concurrency, 1000);
  assert.equal(soakOptions(['soak', '--minutes', '10']).seconds, 600);
  assert.deepEqual(soakOptions(['--faults', 'network_cut,disk_full']).faults, ['network_cut', 'disk_full']);
  assert.deepEqual(soakOptions(['--faults', 'none']).faults, []);
  assert.throws(() => soakOptions(['--faults', 'meteor']), /unknown fault meteor/);
  assert.throws(() => soakOptions(['--seconds', '-1']), /positive number/);
});

test('a short soak and every fault phase: JSON shape, no errors, no receipt lost, none pending', async (t) => {
  const records: BenchRecord[] = [];
  for await (const r of run({
    ...DEFAULTS,
    concurrency: 16,
    seconds: 2,
    baselineSeconds: 1,
    rampMs: 200,
    faultConcurrency: 4,
    aroundMs: 500,
    cutSeconds: 1,
    diskSeconds: 1,
    swtpmDownSeconds: 1,
    verdictSample: 20,
    drainMs: 30_000,
    settleMs: 15_000,
  }))
    records.push(r);
  for (const r of records) {
    assert.equal(r.bench, 'soak');
    assert.match(r.metric, /^[a-z_]+\.[A-Za-z0-9_.:+-]+$/, r.metric);
    assert.ok(Number.isFinite(r.value), `${r.metric} is a number`);
    assert.equal(typeof r.unit, 'string');
    assert.ok(r.baseline === null || Number.isFinite(r.baseline), `${r.metric} baseline`);
  }
  const value = (m: string) => records.find((r) => r.metric === m)?.value;
  if (value('setup.skipped') === 1) {
    t.skip('swtpm is not installed');
    return;
  }
  const show = JSON.stringify(records.map((r) => [r.metric, r.value]));
  assert.equal(value('soak.errors'), 0, show);
  assert.equal(value('soak.baseline_errors'), 0, show);
  assert.ok((value('soak.rss_samples') ?? 0) >= 2, show);
  assert.ok((value('soak.p50_ratio') ?? 0) > 0, show);
  for (const phase of ['soak', ...FAULTS]) {
    if (value(`${phase}.skipped`) === 1) {
      assert.notEqual(process.getuid?.(), 0, `${phase} skipped as root`);
      continue;
    }
    const acked = value(`${phase}.acknowledged`);
    assert.ok(acked !== undefined && acked > 0, `${phase}: ${show}`);
    assert.equal(
      value(`${phase}.in_agent_store`),
      acked,
      `${phase}: acknowledged receipts in the agent's store`,
    );
    assert.equal(value(`${phase}.at_verifier`), acked, `${phase}: acknowledged receipts at the verifier`);
    assert.equal(value(`${phase}.verdict.pending`), undefined, `${phase}: a verdict left pending: ${show}`);
    assert.equal(value(`${phase}.verdict.not_found`), undefined, `${phase}: ${show}`);
    assert.equal(value(`${phase}.agent_alive`), 1, `${phase}: the agent exited`);
  }
});
