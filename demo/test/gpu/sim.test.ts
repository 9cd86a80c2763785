import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { test } from 'node:test';
import { DEFAULT_NVSMI_QUERY, NvSmiParser } from '@tmb/agent/telemetry';
import { FAKE_NVIDIA_SMI, SIM_GPU_NAME, SimulatedGpu, startSampleServer, startSimulatedGpu } from '@tmb/demo';

test('the simulated GPU counts prefill and per-token energy exactly, and reports idle power without counting it (honest and cheap)', () => {
  for (const [variant, ept] of [
    ['honest', 0.5],
    ['cheap', 0.3], // 0.6 x the energy per token
  ] as const) {
    let now = 0;
    const gpu = new SimulatedGpu({ variant, tokenLatencyMs: 10, energyPerTokenJ: 0.5, now: () => now });
    now = 1000;
    assert.equal(gpu.read().utilGpu, 0);
    const r = gpu.begin();
    now = 1010; // prefill: 10 ms at 250 W x the variant's factor
    for (let i = 0; i < 20; i++) {
      r.token();
      now += 10;
    }
    const busy = gpu.read();
    assert.ok(busy.utilGpu > 50, 'busy while a request is in flight');
    assert.ok(busy.powerInstantW > 60, 'per-token energy shows in the power reading');
    assert.equal(busy.name, SIM_GPU_NAME);
    now = 1215;
    r.end();
    r.token(); // after the end: nothing
    now = 2000;
    const read = gpu.read();
    // Idle power is reported but not counted (work only: load.test.ts); 60 W x 10 ms per token.
    assert.ok(read.powerW > 50 && read.powerW < 70, `idle ${read.powerW} W`);
    const want = 0.01 * 250 * (ept / 0.5) + 20 * (ept + 0.6);
    assert.ok(Math.abs(read.energyMj - want * 1000) <= 1, `${read.energyMj} mJ, want ${want * 1000}`);
    assert.equal(read.simulated, true);
  }
});

test('a request that sends no token before its end draws the nominal decode power after its prefill', () => {
  let now = 0;
  const gpu = new SimulatedGpu({
    variant: 'honest',
    tokenLatencyMs: 10,
    energyPerTokenJ: 0.5,
    now: () => now,
  });
  const r = gpu.begin();
  now = 210;
  r.end();
  // 10 ms prefill at 250 W, then 200 ms at 0.5 J x 100 tokens/s; no idle power while in flight.
  const want = (0.01 * 250 + 0.2 * 50) * 1000;
  assert.ok(Math.abs(gpu.read().energyMj - want) <= 1);
});

test('a streamed request spends the same energy however long its first token and its tokens are delayed', () => {
  const spent = (firstTokenDelayMs: number, gapMs: number) => {
    let now = 0;
    const gpu = new SimulatedGpu({
      variant: 'cheap',
      tokenLatencyMs: 4,
      energyPerTokenJ: 0.5,
      now: () => now,
    });
    const other = gpu.begin(); // another answer streaming the whole time: no idle power is drawn
    other.streamed();
    const r = gpu.begin();
    r.streamed(); // the role event, written at once
    now += firstTokenDelayMs; // a loaded machine holds the first token back
    for (let i = 0; i < 50; i++) {
      r.token();
      now += gapMs;
    }
    r.end();
    other.end();
    return gpu.read().energyMj;
  };
  const nominal = spent(4, 4);
  // The energy per token of a request stays the variant's, whatever the timers did.
  assert.equal(spent(500, 4), nominal);
  assert.equal(spent(4, 40), nominal);
  assert.equal(spent(900, 25), nominal);
});

test("an answer that is not streamed spends its tokens' energy over its nominal time, however late it ends", () => {
  const spent = (parseMs: number, endMs: number) => {
    let now = 0;
    const gpu = new SimulatedGpu({
      variant: 'cheap',
      tokenLatencyMs: 4,
      energyPerTokenJ: 0.5,
      now: () => now,
    });
    const r = gpu.begin();
    now += parseMs; // the body read and parsed (longer on a loaded machine)
    r.generate(50, 200); // 50 tokens in 200 ms nominal
    now += endMs; // the answer is sent when the timers let it
    r.end();
    return gpu.read().energyMj;
  };
  const nominal = spent(4, 200);
  assert.equal(spent(4, 900), nominal);
  assert.equal(spent(4, 5000), nominal);
  assert.ok(Math.abs(spent(300, 200) - nominal) <= 1, 'a body parsed late costs no more');
  // Prefill (250 W x 0.6 for 4 ms) and 50 x (0.3 J + 60 W x 4 ms); no idle power while in flight.
  assert.ok(Math.abs(nominal - (0.004 * 150 + 50 * (0.3 + 0.24)) * 1000) <= 1, `${nominal} mJ`);
});

test('the sample server tells the simulated GPU what a JSON answer generates', async () => {
  // 10 ms a token: the nominal decode power (150 W) stays under the power limit.
  const sim = await startSimulatedGpu({ variant: 'honest', tokenLatencyMs: 10 });
  const server = await startSampleServer({ model: 'm', tokenLatencyMs: 10, onRequest: sim.onRequest });
  try {
    const before = sim.gpu.read().energyMj;
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 40 }),
    });
    const body = (await res.json()) as { usage: { completion_tokens: number } };
    const n = body.usage.completion_tokens;
    const spent = (sim.gpu.read().energyMj - before) / 1000;
    // Prefill (250 W x 10 ms) and 2.1 J a token (1.5 J + 60 W x 10 ms), however long the answer
    // took; the idle time before it arrived and after it ended is not counted.
    const want = 2.5 + n * 2.1;
    assert.ok(Math.abs(spent - want) <= 0.01, `${spent} J for ${n} tokens`);
  } finally {
    await server.close();
    await sim.close();
  }
});

test('a generation whose body a loaded machine reads late spends no more: prefill and its tokens, streamed or not', async () => {
  // The GPU's clock is the test's: the body arrives 300 ms (on that clock) after the headers, as
  // on a starved machine, and no other time passes, so the energy is exactly what the request cost.
  let now = 0;
  const sim = await startSimulatedGpu({ variant: 'honest', tokenLatencyMs: 10, now: () => now });
  let arrived = () => {};
  const server = await startSampleServer({
    model: 'm',
    tokenLatencyMs: 0,
    onRequest: (req, res) => {
      sim.onRequest(req, res);
      arrived();
    },
  });
  try {
    for (const [path, extra] of [
      ['/v1/completions', { prompt: 'hi', stream: true }], // no role event: the first token describes it
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], stream: true }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
    ] as const) {
      const before = sim.gpu.read().energyMj;
      const headersIn = new Promise<void>((r) => {
        arrived = r;
      });
      const req = request(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      const answer = new Promise<string>((resolve, reject) => {
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
      });
      req.flushHeaders();
      await headersIn;
      now += 300; // the body is read and parsed late
      req.end(JSON.stringify({ model: 'm', max_tokens: 40, min_tokens: 40, ...extra }));
      await answer;
      const spent = (sim.gpu.read().energyMj - before) / 1000;
      // Prefill (250 W x 10 ms) and 40 x 2.1 J (1.5 J + 60 W x 10 ms); no idle power while in flight.
      assert.ok(
        Math.abs(spent - (2.5 + 40 * 2.1)) <= 0.01,
        `${path} ${extra.stream ? 'streamed' : 'JSON'}: ${spent} J`,
      );
    }
  } finally {
    await server.close();
    await sim.close();
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
        /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3}, 0, GPU-[0-9a-f-]{36}, TMB SIMULATED GPU 80GB, \d+\.\d\d, \d+, \d+, \d+, \d+, \d+, \d+, \d+$/,
      );
    const parser = new NvSmiParser({ fields: DEFAULT_NVSMI_QUERY });
    const samples = lines.map((l, i) => parser.line(l, Date.now() + i));
    assert.ok(samples.every((s) => s !== undefined && s.energyJ !== undefined && s.powerW !== undefined));
    assert.ok(samples.every((s) => s?.name === SIM_GPU_NAME && s.uuid === samples[0]?.uuid));
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
