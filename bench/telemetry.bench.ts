/**
 * Collector CPU at 10 Hz (target <= 1% of one core): NvSmiCollector parsing a fake nvidia-smi
 * (packages/agent/test/telemetry/fake-nvidia-smi.ts, a small script printing CSV lines every
 * 100 ms) for 10 s, as CPU time of this process per wall second; baseline: the fake's own CPU
 * over the same time, from /proc/<pid>/stat (utime + stime at USER_HZ 100). Also the parser's
 * cost per line.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEFAULT_NVSMI_QUERY, NvSmiCollector, NvSmiParser, parseProcStat } from '@tmb/agent/telemetry';
import type { BenchRecord } from './record.ts';

const B = 'telemetry';
const FAKE = new URL('../packages/agent/test/telemetry/fake-nvidia-smi.ts', import.meta.url).pathname;
const SECONDS = Number(process.env.TELEMETRY_BENCH_SECONDS ?? 10);

function procCpuSeconds(pid: number): number {
  const st = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return st === undefined ? Number.NaN : (st.utimeTicks + st.stimeTicks) / 100;
}

export async function* run(): AsyncIterable<BenchRecord> {
  let pid = 0;
  let samples = 0;
  const c = new NvSmiCollector({
    onSample: () => {
      samples++;
    },
    intervalMs: 100,
    spawn: (_cmd, args) => {
      const child = spawn(process.execPath, [FAKE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
      pid = child.pid ?? 0;
      return child;
    },
  });
  c.start();
  // Let the fake start up before measuring (node's start-up is not the steady state).
  await new Promise((r) => setTimeout(r, 1500));
  const fake0 = procCpuSeconds(pid);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s0 = samples;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  const fake = procCpuSeconds(pid) - fake0;
  c.stop();
  const ours = (cpu.user + cpu.system) / 1e6 / wall;
  yield {
    bench: B,
    metric: 'collector-cpu-10hz',
    value: 100 * ours,
    unit: '% of one core',
    baseline: (100 * fake) / wall,
  };
  yield {
    bench: B,
    metric: 'collector-samples-per-second',
    value: (samples - s0) / wall,
    unit: 'samples/s',
    baseline: 10,
  };

  const p = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
  const line =
    '2026/05/09 03:57:48.161, 0, GPU-34319582-d595-d1c7-d1d2-179bcfa61660, NVIDIA H100 80GB HBM3, 397.81, 319199171, 96, 41, 70000, 1980, 2619, 41';
  const n = 200_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) p.line(line, i);
  yield {
    bench: B,
    metric: 'parse-nvidia-smi-line',
    value: ((performance.now() - t) * 1000) / n,
    unit: 'us',
    baseline: null,
  };
}
