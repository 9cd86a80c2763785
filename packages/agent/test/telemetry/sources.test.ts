import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { resolveOptions } from '@tmb/agent';
import { type GpuSample, type ProcSample, TelemetryStream } from '@tmb/agent/telemetry';
import { toBase64Url } from '@tmb/core';
import { startVerifier } from '@tmb/verifier';

const TOKEN = 't'.repeat(32);
// dcgm-exporter's /metrics as its README and NVIDIA's GPU Operator docs print it (vectors/README.md).
const DCGM_TEXT = readFileSync(new URL('vectors/dcgm-exporter.prom', import.meta.url), 'utf8');

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

interface Pushed {
  seq: number;
  head: string;
  gpu: GpuSample[];
  proc: ProcSample[];
}

/** globalThis.fetch that keeps every telemetry batch the stream pushes. */
function recordingFetch(pushed: Pushed[]): typeof fetch {
  return async (input, init) => {
    if (String(input).endsWith('/v1/telemetry') && typeof init?.body === 'string')
      pushed.push(...(JSON.parse(init.body) as { batches: Pushed[] }).batches);
    return fetch(input, init);
  };
}

/** The verifier's chain state for `agent` (an empty push answers it). */
async function chainState(url: string, agent: string) {
  const r = await fetch(`${url}/v1/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, batches: [] }),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { seq: number; head: string };
}

test("the model server's CPU time and RSS, read from the real /proc, reach the verifier in the chain", async () => {
  // A stand-in model server: a real process the stream reads from /proc while it runs.
  const server = spawn(process.execPath, ['-e', 'setInterval(() => { for (let i = 0; i < 1e6; i++); }, 5)'], {
    stdio: 'ignore',
  });
  const pid = server.pid!;
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'cpu-1' }] });
  const pushed: Pushed[] = [];
  const s = new TelemetryStream(
    { url: v.url, token: TOKEN, name: 'cpu-1' },
    { gpu: 'none', pids: [pid], intervalMs: 20, pushIntervalMs: 50, fetch: recordingFetch(pushed) },
  );
  try {
    s.start();
    await until(() => s.counts.batchesPushed >= 3);
    // The process goes away: each read is counted and the stream goes on.
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    await until(() => (s.sources.proc[0]!.counts.nonZero()['fetch-failed'] ?? 0) >= 1);
    await s.close();
    const { head, count } = s.head();
    const state = await chainState(v.url, 'cpu-1');
    assert.deepEqual([state.seq, state.head], [count, toBase64Url(head)]);
    assert.equal(s.counts.pushFailures, 0);
    assert.equal(s.tool(), null, 'no tool is run: /proc is read by the measured agent itself');
    assert.ok(s.counts.procSamples >= 3 && s.counts.samples === 0, JSON.stringify(s.counts));
    const proc = pushed.flatMap((b) => b.proc);
    assert.deepEqual(
      pushed.flatMap((b) => b.gpu),
      [],
    );
    assert.ok(proc.length >= 3);
    assert.ok(proc.every((p) => p.pid === pid && p.rssBytes > 1 << 20 && p.cpuSeconds >= 0));
    assert.ok(
      proc.every((p, i) => i === 0 || (p.t >= proc[i - 1]!.t && p.cpuSeconds >= proc[i - 1]!.cpuSeconds)),
    );
  } finally {
    server.kill('SIGKILL');
    await s.close();
    await v.close();
  }
});

test('GPU samples scraped from dcgm-exporter (recorded exposition) reach the verifier in the chain', async () => {
  const exporter = createServer((_q, r) => r.end(DCGM_TEXT));
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
  const dcgmUrl = `http://127.0.0.1:${(exporter.address() as { port: number }).port}/metrics`;
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'gpu-d' }] });
  const pushed: Pushed[] = [];
  const s = new TelemetryStream(
    { url: v.url, token: TOKEN, name: 'gpu-d' },
    { gpu: 'dcgm', dcgmUrl, intervalMs: 20, pushIntervalMs: 50, fetch: recordingFetch(pushed) },
  );
  try {
    assert.equal(s.collector, undefined, 'nvidia-smi is not run');
    s.start();
    await until(() => s.counts.batchesPushed >= 3);
    await s.close();
    const { head, count } = s.head();
    const state = await chainState(v.url, 'gpu-d');
    assert.deepEqual([state.seq, state.head], [count, toBase64Url(head)]);
    assert.equal(s.counts.pushFailures, 0);
    // dcgm-exporter is not a tool the agent runs: the evidence names none (telemetry.tool skipped, below L2).
    assert.equal(s.tool(), null);
    const gpu = pushed.flatMap((b) => b.gpu);
    assert.ok(gpu.length >= 6);
    assert.deepEqual(
      gpu.slice(0, 2).map((g) => [g.gpu, g.uuid, g.powerW]),
      [
        [0, 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660', 409.692],
        [1, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52', 23.528],
      ],
    );
    assert.equal(gpu[0]!.energyJ, 319159.391);
    assert.deepEqual(s.sources.dcgm!.counts.nonZero(), {});
  } finally {
    await s.close();
    await v.close();
    exporter.closeAllConnections();
    exporter.close();
  }
});

test('collector options are checked before the agent starts (AGENT_CONFIG_INVALID)', () => {
  const base = { upstream: 'http://127.0.0.1:1', dataDir: '/nonexistent', name: 'a' };
  for (const telemetry of [
    { gpu: 'rocm-smi' },
    { gpu: 'dcgm', dcgmUrl: 'file:///metrics' },
    { pids: [0] },
    { pids: [1.5] },
    { gpu: 'none' },
  ])
    assert.throws(
      () => resolveOptions({ ...base, telemetry } as Parameters<typeof resolveOptions>[0]),
      (err: { code?: string; message: string }) =>
        err.code === 'AGENT_CONFIG_INVALID' && err.message.startsWith('telemetry.'),
      JSON.stringify(telemetry),
    );
  for (const telemetry of [{}, { gpu: 'dcgm' as const }, { gpu: 'none' as const, pids: [1] }])
    resolveOptions({ ...base, telemetry });
});
