import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { DEFAULT_NVSMI_QUERY, NvSmiParser } from '@tmb/agent/telemetry';
import { FAKE_NVIDIA_SMI, SIM_GPU_NAME, SimulatedGpu, startSimulatedGpu } from '@tmb/demo';

test('the simulated GPU integrates idle, prefill and decode power exactly (honest and cheap)', () => {
  for (const [variant, latency, want] of [
    // idle 1 s at 60 W; prefill 10 ms at 60 + 250 W; decode 200 ms at 60 + 0.5 J x 100 tokens/s
    ['honest', 10, 60 + 0.01 * 310 + 0.2 * 110],
    // cheap: 0.6 x the energy per token: prefill 60 + 150 W; decode 60 + 0.3 J x 100 tokens/s
    ['cheap', 10, 60 + 0.01 * 210 + 0.2 * 90],
  ] as const) {
    let now = 0;
    const gpu = new SimulatedGpu({ variant, tokenLatencyMs: latency, now: () => now });
    now = 1000;
    assert.equal(gpu.read().utilGpu, 0);
    const end = gpu.begin();
    now = 1100;
    const busy = gpu.read();
    assert.ok(busy.utilGpu > 50, 'busy while a request is in flight');
    assert.equal(busy.name, SIM_GPU_NAME);
    now = 1210;
    end();
    now = 2000;
    const r = gpu.read();
    assert.equal(r.energyMj, Math.floor((want + 0.79 * 60) * 1000));
    assert.equal(r.simulated, true);
  }
});

test('demo/bin/nvidia-smi prints the query in exactly the CSV the real tool prints, which the real parser reads', async () => {
  const sim = await startSimulatedGpu({ variant: 'honest', tokenLatencyMs: 5 });
  try {
    const child = spawn(
      process.execPath,
      [
        FAKE_NVIDIA_SMI,
        `--query-gpu=${DEFAULT_NVSMI_QUERY.join(',')}`,
        '--format=csv,noheader,nounits',
        '-lms',
        '20',
      ],
      { env: { ...process.env, TMB_SIM_GPU_URL: sim.url }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (c: string) => {
        out += c;
        if (out.split('\n').length > 4) resolve();
      });
    });
    child.kill('SIGTERM');
    const lines = out.split('\n').slice(0, 4);
    for (const l of lines)
      assert.match(
        l,
        /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3}, 0, \d+\.\d\d, \d+, \d+, \d+, \d+, \d+, \d+, \d+$/,
      );
    const parser = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
    const samples = lines.map((l, i) => parser.line(l, Date.now() + i));
    assert.ok(samples.every((s) => s !== undefined && s.energyJ !== undefined && s.powerW !== undefined));
    assert.equal(parser.counts.total(), 0, JSON.stringify(parser.counts));
    // With units and a header, as `--format=csv` prints them.
    const withUnits = spawn(
      process.execPath,
      [FAKE_NVIDIA_SMI, '--query-gpu=power.draw,memory.used', '--format=csv'],
      {
        env: { ...process.env, TMB_SIM_GPU_URL: sim.url },
      },
    );
    let text = '';
    withUnits.stdout.setEncoding('utf8').on('data', (c: string) => {
      text += c;
    });
    await new Promise((r) => withUnits.on('exit', r));
    assert.match(text, /^power\.draw \[W\], memory\.used \[MiB\]\n\d+\.\d\d W, 73412 MiB\n$/);
  } finally {
    await sim.close();
  }
});
