import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Agent as HttpAgent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ReceiptFields } from '@tmb/agent';
import type { WorkerJob } from './worker.ts';

/** The model name benchmarks ask the sample server for. */
export const BENCH_MODEL = 'sample-bench';

/** A server running in a worker thread. */
export interface Hosted {
  url: string;
  /** Milliseconds the server's event loop has been busy so far (eventLoopUtilization().active). */
  busyMs(): number;
  /**
   * Microseconds of CPU (user + system) the server's thread has used so far. Unlike busyMs, time
   * the thread sat runnable while another process held the core is not counted: on a shared
   * machine this is the figure that compares two builds.
   */
  cpuUs(): Promise<number>;
  /** Starts a V8 CPU profile of the server's thread; `stop()` resolves with its JSON (a .cpuprofile). */
  startCpuProfile(): Promise<{ stop(): Promise<string> }>;
  close(): Promise<void>;
}

/**
 * Runs `module` in a worker thread with `data` as its workerData. The module posts `{ url }` when
 * it listens and, told 'close', closes and posts again. Shared by every bench that hosts a server.
 */
export async function hostWorker(module: URL, data: unknown): Promise<Hosted> {
  const worker = new Worker(module, { workerData: data });
  const [msg] = (await Promise.race([
    once(worker, 'message'),
    once(worker, 'error').then(([e]) => Promise.reject(e)),
  ])) as [{ url: string }];
  return {
    url: msg.url,
    busyMs: () => worker.performance.eventLoopUtilization().active,
    cpuUs: async () => {
      const u = await worker.cpuUsage();
      return u.user + u.system;
    },
    startCpuProfile: () => worker.startCpuProfile(),
    close: async () => {
      worker.postMessage('close');
      await once(worker, 'message');
      await worker.terminate();
    },
  };
}

function host(job: WorkerJob): Promise<Hosted> {
  return hostWorker(new URL('./worker.ts', import.meta.url), job);
}

/**
 * A sample model server (tokenLatencyMs 0) and an agent in front of it, each in its own thread,
 * the agent's receipts in a temporary folder removed on close. No verifier: pushing is not on
 * the request path.
 */
export async function startPair(): Promise<{
  direct: string;
  agent: string;
  busy: { sample(): number; agent(): number };
  /** CPU µs of each thread so far (Hosted.cpuUs). */
  cpu: { sample(): Promise<number>; agent(): Promise<number> };
  /** Starts a CPU profile of the agent's thread (Hosted.startCpuProfile). */
  profileAgent(): Promise<{ stop(): Promise<string> }>;
  close(): Promise<void>;
}> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tmb-bench-'));
  const sample = await host({ kind: 'sample', model: BENCH_MODEL });
  let agent: Hosted;
  try {
    agent = await host({ kind: 'agent', upstream: sample.url, dataDir, name: 'bench' });
  } catch (err) {
    await sample.close();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    direct: sample.url,
    agent: agent.url,
    busy: { sample: () => sample.busyMs(), agent: () => agent.busyMs() },
    cpu: { sample: () => sample.cpuUs(), agent: () => agent.cpuUs() },
    profileAgent: () => agent.startCpuProfile(),
    close: async () => {
      await agent.close();
      await sample.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Result of one HTTP exchange driven by `send`. */
export interface Sent {
  status: number;
  /** Milliseconds from request start to the last body byte. */
  ms: number;
  /** Number of `\n\n` (SSE event ends) in the body. */
  events: number;
}

/**
 * Sends one POST with node:http over `agent` (keep-alive) and reads the body to its end.
 * node:http, not fetch: fetch's own per-request cost would blur a sub-millisecond difference.
 */
export function send(agent: HttpAgent, url: string, path: string, body: Buffer): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = httpRequest(
      `${url}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.byteLength },
      },
      (res) => {
        let events = 0;
        let prev = -1; // last byte of the previous chunk, for a \n\n split across chunks
        res.on('data', (chunk: Buffer) => {
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1))
            if ((i === 0 ? prev : chunk[i - 1]) === 10) events++;
          prev = chunk[chunk.length - 1]!;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - t0) / 1e6, events }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A receipt's fields as the proxy fills them for a typical non-streamed chat completion. */
export function chatFields(i: number, nowUs = Date.now() * 1000): ReceiptFields {
  return {
    id: randomBytes(16).toString('hex'),
    request: {
      id: `req-${i}`,
      method: 'POST',
      path: '/v1/chat/completions',
      bytes: 1024,
      sha256: 'ab'.repeat(32),
    },
    response: { status: 200, upstreamStatus: 200, stream: false, bytes: 812, sha256: 'cd'.repeat(32) },
    model: { requested: 'sample-7b', reported: 'sample-7b' },
    usage: { prompt: 260, completion: 40, total: 300 },
    time: { start: nowUs + i, firstByte: nowUs + i + 900, end: nowUs + i + 1200 },
    outcome: 'complete',
    client: { nonce: 'n'.repeat(43) },
  };
}

/**
 * Receipts the agent at `url` has signed and committed so far: the sum over outcomes of
 * `tmb_agent_receipts_issued_total` on its `/metrics` (answered to loopback on the main port).
 */
export async function receiptsIssued(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`bench: ${url}/metrics answered ${res.status}`);
  let total = 0;
  for (const line of (await res.text()).split('\n'))
    if (line.startsWith('tmb_agent_receipts_issued_total'))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}
