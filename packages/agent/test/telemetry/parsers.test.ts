import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  DEFAULT_NVSMI_QUERY,
  NVSMI_METRIC_FIELDS,
  NvSmiParser,
  parseDcgm,
  parseProcStat,
  parseProcStatus,
} from '@tmb/agent/telemetry';

const vector = (name: string) => readFileSync(new URL(`vectors/${name}`, import.meta.url), 'utf8');
const lines = (name: string) => vector(name).split('\n').slice(0, -1);

test('nvidia-smi --format=csv with header and units', () => {
  const p = new NvSmiParser();
  const out = lines('nvsmi-query-gpu-header-units.csv').map((l, i) => p.line(l, 1000 + 100 * i));
  assert.equal(out[0], undefined, 'the header is not a sample');
  assert.deepEqual(out[1], {
    t: 1100,
    gpu: 0,
    toolTime: Date.UTC(2026, 4, 9, 3, 57, 48, 161),
    powerW: 62.87,
    energyJ: 319159.391,
    utilGpu: 0,
    utilMem: 0,
    memUsedMiB: 70000,
    smClockMHz: 1470,
    memClockMHz: 2619,
    tempC: 40,
  });
  assert.equal(out[2]!.powerW, 397.81);
  assert.equal(out[4]!.powerW, undefined, '[N/A] leaves the field out');
  assert.equal(out[4]!.utilGpu, 94);
  assert.equal(out[5]!.utilGpu, undefined, '[Not Supported] leaves the field out');
  assert.deepEqual(p.counts.nonZero(), { 'not-available': 1, 'not-supported': 1 });
});

test('nvidia-smi --format=csv,noheader,nounits with two GPUs', () => {
  const p = new NvSmiParser({ fields: NVSMI_METRIC_FIELDS });
  const out = lines('nvsmi-query-gpu-noheader-nounits.csv').map((l, i) => p.line(l, 50 * i));
  assert.deepEqual(
    out.map((s) => [s!.gpu, s!.powerW, s!.energyJ, s!.utilGpu]),
    [
      [0, 75.62, 31035686.671, 0],
      [1, 75.59, 30535011.002, 0],
      [0, 245.1, 31035711.183, 37],
      [1, 246.31, 30535035.633, 38],
    ],
  );
  assert.equal(p.counts.total(), 0);
});

test('nvidia-smi with the GPU identity (the default query): uuid and name on every sample', () => {
  const p = new NvSmiParser();
  const out = lines('nvsmi-query-gpu-identity.csv').map((l, i) => p.line(l, 1000 + 50 * i));
  assert.equal(out[0], undefined, 'the header is not a sample');
  assert.deepEqual(out[1], {
    t: 1050,
    gpu: 0,
    uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
    name: 'NVIDIA H100 80GB HBM3',
    toolTime: Date.UTC(2026, 4, 9, 3, 57, 48, 161),
    powerW: 62.87,
    energyJ: 319159.391,
    utilGpu: 0,
    utilMem: 0,
    memUsedMiB: 70000,
    smClockMHz: 1470,
    memClockMHz: 2619,
    tempC: 40,
  });
  assert.deepEqual(
    out.slice(1).map((s) => [s!.gpu, s!.uuid, s!.name]),
    [
      [0, 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660', 'NVIDIA H100 80GB HBM3'],
      [1, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52', 'NVIDIA H100 80GB HBM3'],
      [0, 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660', 'NVIDIA H100 80GB HBM3'],
      [1, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52', 'NVIDIA H100 80GB HBM3'],
    ],
  );
  assert.equal(p.counts.total(), 0);
  // The same header is exactly the collector's default query, so noheader lines read the same.
  assert.deepEqual(
    vector('nvsmi-query-gpu-identity.csv')
      .split('\n')[0]!
      .split(', ')
      .map((c) => c.replace(/ \[.*\]$/, '')),
    [...DEFAULT_NVSMI_QUERY],
  );
  const q = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
  const bare = lines('nvsmi-query-gpu-identity.csv')[1]!.replace(/ (W|mJ|%|MiB|MHz)(?=,|$)/g, '');
  assert.deepEqual(q.line(bare, 1050), out[1]);
});

test('dcgm-exporter Prometheus text', () => {
  const { samples, counts } = parseDcgm(vector('dcgm-exporter.prom'), 5);
  assert.deepEqual(samples[0], {
    t: 5,
    gpu: 0,
    uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
    smClockMHz: 1215,
    memClockMHz: 1215,
    tempC: 61,
    powerW: 409.692,
    energyJ: 319159.391,
    utilGpu: 100,
    utilMem: 38,
    memUsedMiB: 4845,
    prof: { GR_ENGINE_ACTIVE: 0.808369, SM_ACTIVE: 0.723064, DRAM_ACTIVE: 0.41551 },
  });
  assert.equal(samples[1]!.gpu, 1);
  assert.equal(samples[1]!.powerW, 23.528);
  assert.equal(samples[1]!.energyJ, 31035686.671);
  assert.equal(samples[1]!.uuid, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52');
  // MEMORY_TEMP is not read, so its blank value is not counted; nothing else is wrong.
  assert.equal(counts.total(), 0);
});

test('dcgm-exporter with modelName and UUID labels: the GPU identity of each sample', () => {
  const { samples, counts } = parseDcgm(vector('dcgm-exporter-modelname.prom'), 5);
  assert.deepEqual(samples, [
    {
      t: 5,
      gpu: 0,
      uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
      name: 'NVIDIA H100 80GB HBM3',
      smClockMHz: 1980,
      powerW: 409.692,
      energyJ: 319159.391,
    },
    {
      t: 5,
      gpu: 1,
      uuid: 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52',
      name: 'NVIDIA H100 80GB HBM3',
      smClockMHz: 345,
      powerW: 71.316,
      energyJ: 31035686.671,
    },
  ]);
  assert.equal(counts.total(), 0);
});

test('/proc/<pid>/stat and status as the kernel prints them', () => {
  const st = parseProcStat(vector('proc-stat-sleep.txt'));
  assert.ok(st !== undefined);
  assert.equal(st.comm, 'sleep');
  assert.equal(st.state, 'R');
  assert.equal(st.utimeTicks, 0);
  assert.equal(st.startTicks, 127312);
  assert.equal(st.rssPages, 33);
  const status = parseProcStatus(vector('proc-status-sleep.txt'));
  assert.equal(status.rssBytes, 1776 * 1024);
  assert.equal(status.peakRssBytes, 1776 * 1024);
  assert.equal(status.threads, 1);
  // The command name may contain spaces and parentheses: split after the last ')'.
  const odd = parseProcStat(`42 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 7 0 999 1000 77 0`);
  assert.equal(odd?.comm, 'a) b (c)');
  assert.equal(odd?.utimeTicks, 250);
  assert.equal(odd?.stimeTicks, 50);
  assert.equal(odd?.rssPages, 77);
});
