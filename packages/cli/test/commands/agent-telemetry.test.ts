import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startVerifier } from '@tmb/verifier';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';
import { tmb } from '../proc.ts';

// Issue 11: the dcgm-exporter and /proc collectors are reachable from `tmb agent`
// (--dcgm, --telemetry-pid) and stream to the verifier like nvidia-smi's samples.

const TOKEN = 't'.repeat(32);
// dcgm-exporter's /metrics as its README and NVIDIA's GPU Operator docs print it
// (packages/agent/test/telemetry/vectors/README.md).
const DCGM_TEXT = readFileSync(
  new URL('../../../agent/test/telemetry/vectors/dcgm-exporter.prom', import.meta.url),
  'utf8',
);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-cli-agent-telemetry-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

interface Batch {
  gpu: { gpu: number; uuid?: string; powerW?: number }[];
  proc: { pid: number; rssBytes: number; cpuSeconds: number }[];
}

/** A pass-through to the verifier that keeps the telemetry batches pushed through it. */
async function recordingProxy(target: string, batches: Batch[]) {
  return serve(async (q, r) => {
    const chunks: Buffer[] = [];
    for await (const c of q) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (q.url === '/v1/telemetry' && body.length > 0)
      batches.push(...(JSON.parse(body.toString('utf8')) as { batches: Batch[] }).batches);
    const headers = Object.fromEntries(
      Object.entries(q.headers).filter(([k]) => ['authorization', 'content-type'].includes(k)),
    ) as Record<string, string>;
    const a = await fetch(`${target}${q.url}`, {
      method: q.method!,
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    r.writeHead(a.status, { 'content-type': a.headers.get('content-type') ?? 'application/json' });
    r.end(Buffer.from(await a.arrayBuffer()));
  });
}

/** The verifier's chain state for `agent` (an empty push answers it). */
async function chainState(url: string, agent: string): Promise<{ seq: number; head: string }> {
  const r = await fetch(`${url}/v1/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, batches: [] }),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { seq: number; head: string };
}

test('tmb agent --dcgm URL --telemetry-pid PID streams dcgm-exporter and /proc samples to the verifier', async () => {
  const exporter = await serve((_q, r) => r.end(DCGM_TEXT));
  const upstream = await serve((_q, r) => r.end('{}'));
  // A stand-in model server whose CPU time and RSS the agent reads from /proc.
  const engine = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'tel-1' }] });
  const batches: Batch[] = [];
  const proxy = await recordingProxy(v.url, batches);
  const run = tmb(
    [
      ...['agent', '--upstream', upstream.url, '--name', 'tel-1', '--port', '0', '--tpm', 'none'],
      ...['--data-dir', join(dir, 'tel-1'), '--verifier', proxy.url],
      ...['--dcgm', `${exporter.url}/metrics`, '--telemetry-pid', String(engine.pid), '--telemetry-ms', '20'],
    ],
    { TMB_AGENT_TOKEN: TOKEN },
  );
  try {
    await run.ready(30_000);
    // Batches are pushed every second: wait for the verifier's chain to move past two.
    const end = Date.now() + 20_000;
    let state = await chainState(v.url, 'tel-1');
    while (state.seq < 2) {
      if (Date.now() > end) throw new Error(`no telemetry reached the verifier: ${run.err()}`);
      await new Promise((r) => setTimeout(r, 100));
      state = await chainState(v.url, 'tel-1');
    }
    // The GPU readings are the exporter's (both GPUs of the recorded scrape), the process ones the engine's.
    const gpu = batches.flatMap((b) => b.gpu);
    const proc = batches.flatMap((b) => b.proc);
    assert.deepEqual(
      gpu.slice(0, 2).map((g) => [g.gpu, g.uuid, g.powerW]),
      [
        [0, 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660', 409.692],
        [1, 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52', 23.528],
      ],
    );
    assert.ok(proc.length > 0 && proc.every((p) => p.pid === engine.pid && p.rssBytes > 0));
  } finally {
    await run.stop();
    engine.kill('SIGKILL');
    await v.close();
    for (const s of [exporter, upstream, proxy]) {
      s.server.closeAllConnections();
      s.server.close();
    }
  }
});

test('tmb agent telemetry flags are checked before anything starts (exit 2)', async () => {
  const base = ['agent', '--upstream', 'http://127.0.0.1:9', '--name', 'a', '--tpm', 'none'];
  const cases: [string[], RegExp][] = [
    [
      ['--nvidia-smi', 'nvidia-smi', '--dcgm', 'http://127.0.0.1:9400/metrics'],
      /--nvidia-smi and --dcgm exclude each other/,
    ],
    [['--telemetry-pid', '0'], /--telemetry-pid must be an integer >= 1/],
    [['--telemetry-pid', 'self'], /--telemetry-pid must be an integer >= 1/],
  ];
  for (const [flags, message] of cases) {
    const io = capture();
    assert.equal(await main([...base, '--data-dir', join(dir, 'flags'), ...flags], io), 2, flags.join(' '));
    assert.match(io.err, message);
  }
});
