import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_NVSMI_QUERY,
  NVSMI_METRIC_FIELDS,
  NvSmiParser,
  parseDcgm,
  parseProcStat,
  type TelemetryReason,
} from '@tmb/agent/telemetry';

const GOOD = '2026/05/09 03:57:48.161, 0, 62.87, 319159391, 10, 5, 70000, 1470, 2619, 40';
const cells = (edit: Record<number, string>) =>
  GOOD.split(', ')
    .map((c, i) => edit[i] ?? c)
    .join(', ');

/** One line after a good one; returns whether it was kept and what was counted. */
function after(line: string, dt = 100): { kept: boolean; reasons: Partial<Record<TelemetryReason, number>> } {
  const p = new NvSmiParser({ fields: NVSMI_METRIC_FIELDS });
  assert.ok(p.line(GOOD, 0));
  const s = p.line(line, dt);
  return { kept: s !== undefined, reasons: p.counts.nonZero() };
}

test('bad cells drop the field with a counted reason, the line is kept', () => {
  const cases: [string, TelemetryReason][] = [
    [cells({ 2: 'NaN' }), 'not-a-number'],
    [cells({ 2: '-5.00' }), 'negative'],
    [cells({ 2: '[N/A]' }), 'not-available'],
    [cells({ 2: '[Not Supported]' }), 'not-supported'],
    [cells({ 2: '[Unknown Error]' }), 'tool-error'],
    [cells({ 2: '62.87 mW' }), 'wrong-unit'],
    [cells({ 4: '101' }), 'out-of-range'],
    [cells({ 4: '1e3' }), 'not-a-number'],
  ];
  for (const [line, reason] of cases)
    assert.deepEqual(after(line), { kept: true, reasons: { [reason]: 1 } }, line);
});

test('bad GPU identity cells leave the name or uuid out with a counted reason, the line is kept', () => {
  const UUID = 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660';
  const NAME = 'NVIDIA H100 80GB HBM3';
  const [ts, index, ...metrics] = GOOD.split(', ');
  const line = (uuid: string, name: string) => [ts, index, uuid, name, ...metrics].join(', ');
  const read = (uuid: string, name: string) => {
    const p = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
    const s = p.line(line(uuid, name), 0);
    return { uuid: s?.uuid, name: s?.name, power: s?.powerW, reasons: p.counts.nonZero() };
  };
  assert.deepEqual(read(UUID, NAME), { uuid: UUID, name: NAME, power: 62.87, reasons: {} });
  assert.equal(
    read('MIG-c6d4f1e8-0b7d-5a6e-8f1a-2d3c4b5a6978', NAME).uuid,
    'MIG-c6d4f1e8-0b7d-5a6e-8f1a-2d3c4b5a6978',
  );
  const cases: [string, string, 'uuid' | 'name', TelemetryReason][] = [
    ['[N/A]', NAME, 'uuid', 'not-available'],
    [UUID, '[N/A]', 'name', 'not-available'],
    [UUID, '[Not Supported]', 'name', 'not-supported'],
    [UUID, '[Unknown Error]', 'name', 'tool-error'],
    ['[Insufficient Permissions]', NAME, 'uuid', 'tool-error'],
    ['34319582-d595-d1c7-d1d2-179bcfa61660', NAME, 'uuid', 'bad-identity'],
    ['GPU-', NAME, 'uuid', 'bad-identity'],
    ['GPU-3431 9582', NAME, 'uuid', 'bad-identity'],
    [`GPU-${'a'.repeat(92)}`, NAME, 'uuid', 'bad-identity'],
    [UUID, 'NVIDIA\u0007H100', 'name', 'bad-identity'],
    [UUID, 'NVIDIA H100 \u00e9', 'name', 'bad-identity'],
    [UUID, 'N'.repeat(96), 'name', 'bad-identity'],
  ];
  for (const [uuid, name, left, reason] of cases) {
    const r = read(uuid, name);
    assert.equal(r[left], undefined, `${uuid} ${name}`);
    assert.equal(r.power, 62.87, 'the rest of the line is kept');
    assert.deepEqual(r.reasons, { [reason]: 1 }, `${uuid} ${name}`);
  }
  // A name with ", " in it cannot be told from two cells (nvidia-smi does not quote): the line goes.
  const p = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
  assert.equal(p.line(line(UUID, 'NVIDIA H100, 80GB'), 0), undefined);
  assert.deepEqual(p.counts.nonZero(), { 'extra-column': 1 });
});

test('bad lines are dropped with a counted reason', () => {
  const cases: [string, TelemetryReason, number?][] = [
    [GOOD.split(', ').slice(0, 9).join(', '), 'missing-column'],
    [`${GOOD}, 7`, 'extra-column'],
    [cells({ 0: '2026-05-09T03:57:48Z' }), 'bad-timestamp'],
    [cells({ 0: '2026/13/09 03:57:48.161' }), 'bad-timestamp'],
    [cells({ 0: '2026/05/09 03:57:47.161' }), 'time-backwards'],
    // The tool's clock moved 1 h while the agent's moved 100 ms: an NTP step.
    [cells({ 0: '2026/05/09 04:57:48.261' }), 'clock-jump'],
    [cells({ 1: '[N/A]' }), 'no-gpu'],
    ['x'.repeat(5000), 'line-too-long'],
  ];
  for (const [line, reason] of cases)
    assert.deepEqual(after(line), { kept: false, reasons: { [reason]: 1 } }, line.slice(0, 60));
});

test('a counter reset is counted and the sample kept', () => {
  assert.deepEqual(after(cells({ 0: '2026/05/09 03:57:48.261', 3: '12' })), {
    kept: true,
    reasons: { 'counter-reset': 1 },
  });
});

test('a tool restart mid-stream re-reads the header', () => {
  const p = new NvSmiParser();
  p.line('timestamp, index, power.draw [W]', 0);
  assert.equal(p.line('2026/05/09 03:57:48.161, 0, 62.87 W', 0)?.powerW, 62.87);
  p.line('timestamp, power.draw [W], index, bogus.field [X]', 100);
  const s = p.line('2026/05/09 03:57:48.261, 70.00 W, 0, 5', 100);
  assert.equal(s?.powerW, 70);
  assert.deepEqual(p.counts.nonZero(), { 'header-repeated': 1, 'unknown-field': 1 });
  // Data before any header or configured fields cannot be read.
  const q = new NvSmiParser();
  assert.equal(q.line(GOOD, 0), undefined);
  assert.deepEqual(q.counts.nonZero(), { 'missing-column': 1 });
});

test('dcgm and /proc malformed input', () => {
  const d = parseDcgm(
    [
      'DCGM_FI_DEV_POWER_USAGE{gpu="0"} -3',
      'DCGM_FI_DEV_POWER_USAGE{gpu="1"} NaN',
      'DCGM_FI_DEV_GPU_UTIL{gpu="0"} 140',
      'DCGM_FI_DEV_FB_USED{gpu="0"} 140737488355328',
      'DCGM_FI_DEV_FB_USED{UUID="x"} 5',
      'DCGM_FI_DEV_FB_USED{gpu="0" 5',
      'DCGM_FI_DEV_FB_USED{gpu="0"} five',
      '{gpu="0"} 5',
    ].join('\n'),
    0,
  );
  const ids = parseDcgm(
    [
      'DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="not-a-uuid",modelName="NVIDIA H100 80GB HBM3"} 5',
      'DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52",modelName=""} 5',
      'DCGM_FI_DEV_POWER_USAGE{gpu="2",modelName="NVIDIA\\nH100"} 5',
    ].join('\n'),
    0,
  );
  assert.deepEqual(
    ids.samples.map((s) => [s.gpu, s.uuid, s.name]),
    [
      [0, undefined, 'NVIDIA H100 80GB HBM3'],
      [1, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52', undefined],
      [2, undefined, undefined],
    ],
  );
  assert.deepEqual(ids.counts.nonZero(), { 'bad-identity': 3 });
  assert.deepEqual(d.counts.nonZero(), {
    negative: 1,
    'not-a-number': 1,
    'out-of-range': 1,
    'not-available': 1,
    'no-gpu': 1,
    'bad-metric-line': 3,
  });
  for (const bad of [
    '',
    'x (y) S',
    '1 (a) S 1 2 3',
    'abc (sleep) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 1 2 0',
  ])
    assert.equal(parseProcStat(bad), undefined, bad);
});
