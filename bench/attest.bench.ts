/**
 * The agent with a TPM (swtpm, provisioned here) and a verifier: receipts per second sustained
 * while the agent checkpoints and has each checkpoint quoted (at most twice a second: the
 * defaults, 1 s or 500 receipts, 500 ms apart), and the time from a receipt's response to the
 * verifier's acceptance of a quoted checkpoint covering it (p50, p99). Three phases in one run on
 * one swtpm: the agent's TPM commands over its resident connection (`wire`, tpm/wire.ts, the
 * default), by tpm2-tools processes (`tools`), and the same load on an agent without a TPM
 * (checkpoints only, no quotes), the baseline of both. The verifier and a fake model server run
 * in a worker thread (bench/attest.worker.ts), the load generator in another (this file, role
 * `tmb-bench-attest-load`), so the agent has this thread's event loop to itself, as in a deployment;
 * on a 2-core machine the four threads still share the cores. `quote_step_p50` is the TPM step of a quote cycle
 * (bench/quote.bench.ts compares it with the old load-per-quote path).
 * Bounded: 4 s of load at concurrency 64 per phase, then at most 10 s waiting for coverage.
 */

import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent as HttpAgent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type AgentOptions, type RunningAgent, startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { type BenchRecord, percentile } from './record.ts';

const LOAD_MS = 4_000;
const CONCURRENCY = 64;
const TOKEN = 'bench-attest-token-0123456789';
const BODY = Buffer.from('{"model":"sample-bench","messages":[{"role":"user","content":"hi"}]}');

function post(agent: HttpAgent, url: URL): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-length': BODY.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve((res.headers['tmb-receipt-id'] as string | undefined) ?? null));
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Load for LOAD_MS; returns each receipt's id and the Date.now() its response ended. */
async function load(url: string): Promise<{ id: string; at: number }[]> {
  const http = new HttpAgent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL('/v1/chat/completions', url);
  const out: { id: string; at: number }[] = [];
  const deadline = performance.now() + LOAD_MS;
  const loop = async () => {
    while (performance.now() < deadline) {
      const id = await post(http, target);
      if (id !== null) out.push({ id, at: Date.now() });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  http.destroy();
  return out;
}

// The load generator's thread: runs `load` against the agent and posts back what it saw.
if (!isMainThread && (workerData as { role?: string } | null)?.role === 'tmb-bench-attest-load') {
  parentPort!.postMessage(await load((workerData as { url: string }).url));
}

/** Runs `load` against `url` in its own thread. */
async function loadInWorker(url: string): Promise<{ id: string; at: number }[]> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'tmb-bench-attest-load', url } });
  try {
    const [done] = (await Promise.race([
      once(worker, 'message'),
      once(worker, 'error').then(([e]) => Promise.reject(e)),
    ])) as [{ id: string; at: number }[]];
    return done;
  } finally {
    await worker.terminate();
  }
}

async function phase(
  dir: string,
  name: string,
  tpm: AgentOptions['tpm'],
  roots: string[],
  tpmTransport: 'wire' | 'tools' = 'wire',
) {
  const worker = new Worker(new URL('./attest.worker.ts', import.meta.url), {
    workerData: { dbPath: join(dir, `${name}.db`), token: TOKEN, agent: name, roots },
  });
  const [urls] = (await once(worker, 'message')) as [{ verifier: string; upstream: string }];
  const agent: RunningAgent = await startAgent(
    {
      upstream: urls.upstream,
      dataDir: join(dir, name),
      name,
      verifier: { url: urls.verifier, token: TOKEN },
      tpm,
      tpmTransport,
      // Both TPM phases share one swtpm: each binds into its own application PCR.
      appPcr: tpmTransport === 'tools' ? 14 : 15,
    },
    () => {},
  );
  const quotes: { size: number; at: number; ms: Record<string, number> }[] = [];
  agent.attester.onQuoted((q) => quotes.push({ size: q.size, at: q.at, ms: q.ms }));
  try {
    const t0 = Date.now();
    const cpu0 = process.threadCpuUsage();
    const done = await loadInWorker(agent.url);
    const cpu = process.threadCpuUsage(cpu0);
    const seconds = (Date.now() - t0) / 1000;
    const seqs = done.map((d) => ({ seq: agent.store.byId(d.id)?.seq ?? -1, at: d.at }));
    const last = Math.max(...seqs.map((s) => s.seq));
    const deadline = Date.now() + 10_000;
    while (tpm !== 'none' && (quotes.at(-1)?.size ?? 0) <= last && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const coverage = seqs
      .map((s) => {
        const q = quotes.find((x) => x.size > s.seq);
        return q === undefined ? Number.POSITIVE_INFINITY : q.at - s.at;
      })
      .sort((a, b) => a - b);
    const during = quotes.filter((q) => q.at <= t0 + seconds * 1000).length;
    if (process.env.TMB_BENCH_VERBOSE) for (const q of quotes) process.stderr.write(`${JSON.stringify(q)}\n`);
    const quoteMs = quotes.map((q) => q.ms.quote ?? Number.NaN).sort((a, b) => a - b);
    return {
      perSecond: done.length / seconds,
      // This thread is the agent's alone (the load runs in its own): its CPU per receipt is what
      // the agent costs, whatever else the shared machine ran meanwhile.
      cpuPerReceipt: (cpu.user + cpu.system) / Math.max(1, done.length),
      coverage,
      quotesPerSecond: during / seconds,
      quoteMs,
    };
  } finally {
    await agent.close();
    worker.postMessage('close');
    await once(worker, 'message');
    await worker.terminate();
  }
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-attest-'));
  const state = await provisionSwtpm(join(dir, 'swtpm'));
  const swtpm = await startSwtpm(state);
  try {
    const roots = [await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8')];
    const base = await phase(dir, 'bench-no-tpm', 'none', roots);
    const tools = await phase(dir, 'bench-tpm-tools', swtpm.tcti, roots, 'tools');
    const tpm = await phase(dir, 'bench-tpm', swtpm.tcti, roots, 'wire');
    const bench = 'attest';
    const round = (x: number) => Math.round(x);
    for (const [suffix, p] of [
      ['', tpm],
      ['_tools', tools],
    ] as const) {
      yield {
        bench,
        metric: `receipts_per_s_quoting${suffix}`,
        value: round(p.perSecond),
        unit: 'receipts/s',
        baseline: round(base.perSecond),
      };
      yield {
        bench,
        metric: `agent_cpu_per_receipt_quoting${suffix}`,
        value: round(p.cpuPerReceipt),
        unit: 'us',
        baseline: round(base.cpuPerReceipt),
      };
      yield {
        bench,
        metric: `quotes_per_s${suffix}`,
        value: Number(p.quotesPerSecond.toFixed(2)),
        unit: 'quotes/s',
        baseline: null,
      };
    }
    // The TPM step of each quote cycle (TpmDriver.quote): over the wire, the tool path as baseline.
    yield {
      bench,
      metric: 'quote_step_p50',
      value: percentile(tpm.quoteMs, 50),
      unit: 'ms',
      baseline: percentile(tools.quoteMs, 50),
    };
    yield {
      bench,
      metric: 'coverage_p50',
      value: percentile(tpm.coverage, 50),
      unit: 'ms',
      baseline: percentile(tools.coverage, 50),
    };
    yield {
      bench,
      metric: 'coverage_p99',
      value: percentile(tpm.coverage, 99),
      unit: 'ms',
      baseline: percentile(tools.coverage, 99),
    };
  } finally {
    await swtpm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
