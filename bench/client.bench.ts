/**
 * The client SDK: requests per second through a real agent (startAgent, pushing to a real
 * verifier) in front of a tiny inline upstream, non-streamed, concurrency 8, with the SDK's
 * verified fetch against plain fetch on the same agent in the same run. `verified_awaited`: each
 * request counts once `tmb.verify(response)` settled ok (receipt fetched by long-poll, EAR checked
 * with jose, signature and both hashes checked), so it includes the agent's push delay (set to
 * 5 ms here); `verified_background`: each request counts once its body is read, its verification
 * running while the loop sends the next (the onResult pattern; one outstanding per loop, awaited
 * and checked ok within the timing).
 * The verifier runs in one thread, upstream and agent in another (this file is also their worker
 * entry), the client in the main one, as three hosts would.
 * Loopback only; bounded: 3 s per measurement (about 12 s measured, under 25 s in all).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { startAgent } from '@tmb/agent';
import { type ClientResult, createVerifiedFetch } from '@tmb/client';
import { startVerifier } from '@tmb/verifier';
import type { BenchRecord } from './record.ts';
import { type Hosted, hostWorker } from './servers.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const CONCURRENCY = 8;
const MS = 3_000;
const WARM_MS = 300;
const ANSWER = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_764_000_000,
  model: 'tiny-bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(200) }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 260, completion_tokens: 40, total_tokens: 300 },
});
const REQUEST = JSON.stringify({
  model: 'tiny-bench',
  messages: [{ role: 'user', content: 'y'.repeat(960) }],
}); // about 1 KiB

interface Job {
  role: 'tmb-bench-client-verifier' | 'tmb-bench-client-agent';
  dataDir: string;
  verifier?: string;
}

// Worker side: the verifier in one thread, upstream and agent in another, until told to close.
if (!isMainThread && String((workerData as Partial<Job> | null)?.role).startsWith('tmb-bench-client-')) {
  const job = workerData as Job;
  const closers: Array<() => Promise<void>> = [];
  let url: string;
  if (job.role === 'tmb-bench-client-verifier') {
    const verifier = await startVerifier({
      dbPath: join(job.dataDir, 'verifier.db'),
      tokens: [{ token: TOKEN }],
    });
    closers.push(() => verifier.close());
    url = verifier.url;
  } else {
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(ANSWER));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const agent = await startAgent(
      {
        upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        dataDir: join(job.dataDir, 'agent'),
        name: 'bench',
        verifier: { url: job.verifier!, token: TOKEN },
        pushIntervalMs: 5,
      },
      () => {},
    );
    closers.push(
      () => agent.close(),
      async () => {
        upstream.closeAllConnections();
        upstream.close();
      },
    );
    url = agent.url;
  }
  parentPort!.postMessage({ url });
  parentPort!.once('message', async () => {
    for (const close of closers) await close();
    parentPort!.postMessage({ closed: true });
  });
}

function host(job: Job): Promise<Hosted> {
  return hostWorker(new URL(import.meta.url), job);
}

/** The verifier in its thread, then the agent (pushing to it) and its upstream in another. */
async function hostServers(
  dataDir: string,
): Promise<{ agent: string; verifier: string; close(): Promise<void> }> {
  const verifier = await host({ role: 'tmb-bench-client-verifier', dataDir });
  let agent: { url: string; close(): Promise<void> };
  try {
    agent = await host({ role: 'tmb-bench-client-agent', dataDir, verifier: verifier.url });
  } catch (err) {
    await verifier.close();
    throw err;
  }
  return {
    agent: agent.url,
    verifier: verifier.url,
    close: async () => {
      await agent.close();
      await verifier.close();
    },
  };
}

/**
 * Runs CONCURRENCY loops of `one()` for `ms`, each loop with its own state from `start()`, and
 * `finish` on that state once its loop ends (inside the timing); returns completed calls per second.
 */
async function perSecond<S>(
  ms: number,
  one: (state: S) => Promise<void>,
  start: () => S = () => undefined as S,
  finish: (state: S) => Promise<void> = async () => {},
): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  const loop = async () => {
    const state = start();
    while (performance.now() - t0 < ms) {
      await one(state);
      n++;
    }
    await finish(state);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return n / ((performance.now() - t0) / 1000);
}

function post(f: typeof fetch, url: string): Promise<Response> {
  return f(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: REQUEST,
  });
}

/** Yields verified-fetch requests/s (awaited and background) against plain fetch, and their ratios. */
export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-client-'));
  const s = await hostServers(dir);
  try {
    const verifierKey = (await (await fetch(`${s.verifier}/v1/verifier-key`)).json()) as JsonWebKey;
    const tmb = createVerifiedFetch({ verifierUrl: s.verifier, verifierKey });
    const check = (r: ClientResult) => {
      if (!r.ok)
        throw new Error(
          `verification failed: ${JSON.stringify(r.checks.filter((c) => c.status === 'fail'))}`,
        );
    };
    const plain = async () => {
      const res = await post(fetch, s.agent);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`agent answered ${res.status}`);
    };
    const awaited = async () => {
      const res = await post(tmb.fetch, s.agent);
      await res.arrayBuffer();
      check(await tmb.verify(res));
    };
    // Pipelined: a loop sends its next request while the previous one is verified, one
    // verification outstanding per loop, so the figure is a steady state, not a growing backlog.
    type Slot = { prev: Promise<void> };
    const background = async (slot: Slot) => {
      const res = await post(tmb.fetch, s.agent);
      await res.arrayBuffer();
      await slot.prev;
      slot.prev = tmb.verify(res).then(check);
    };
    const newSlot = (): Slot => ({ prev: Promise.resolve() });
    const drain = (slot: Slot) => slot.prev;
    await perSecond(WARM_MS, plain);
    await perSecond(WARM_MS, awaited);
    // Plain before and after the verified runs, averaged: the machine is shared and drifts.
    const plainA = await perSecond(MS, plain);
    const verifiedAwaited = await perSecond(MS, awaited);
    const verifiedBackground = await perSecond(MS, background, newSlot, drain);
    const plainB = await perSecond(MS, plain);
    const base = (plainA + plainB) / 2;
    for (const [metric, value] of [
      ['verified_awaited', verifiedAwaited],
      ['verified_background', verifiedBackground],
    ] as const) {
      yield {
        bench: 'client',
        metric: `${metric}_requests_per_s`,
        value: Math.round(value),
        unit: 'requests/s',
        baseline: Math.round(base),
      };
      yield {
        bench: 'client',
        metric: `${metric}_over_plain`,
        value: Math.round((value / base) * 1000) / 1000,
        unit: 'ratio',
        baseline: null,
      };
    }
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
}
