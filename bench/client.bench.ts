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
 * `added_*` (issue 9): the per-request CPU time the client's nonce and bound result add over the
 * client before them, p50 of OVERHEAD_SAMPLES each: the nonce (32 random bytes, base64url), and
 * the check of the bound members (SHA-256 of the receipt body, the canonical-JSON digest of an
 * attestation of the size a TPM agent sends, comparisons), against the p50 latency of one plain
 * request to the agent in the same run. `bound_verify_ms_p50`: the whole signed-result check
 * (jose ES256 verify and reading the bound claims), for scale.
 * Loopback only; bounded: 3 s per measurement (about 14 s measured, under 30 s in all).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { startAgent } from '@tmb/agent';
import {
  attestationDigest,
  bindingCheck,
  type ClientResult,
  createVerifiedFetch,
  verifyResult,
} from '@tmb/client';
import { CLIENT_NONCE_HEADER, fromBase64Url, toBase64Url } from '@tmb/core';
import { startVerifier } from '@tmb/verifier';
import { type BenchRecord, percentile } from './record.ts';
import { type Hosted, hostWorker } from './servers.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const AGENT = 'bench';
const CONCURRENCY = 8;
const OVERHEAD_SAMPLES = 2_000;
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
      tokens: [{ token: TOKEN, agent: 'bench' }],
      // One load generator on one address: the per-client limit would measure itself.
      rateLimit: false,
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
        name: AGENT,
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
    yield* overhead(s, verifierKey);
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

/** p50 in ms of `n` sequential runs of `f`. */
async function p50(n: number, f: () => unknown): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return percentile(t, 50);
}

/** The added per-request cost of the nonce and the bound result, against one plain request. */
async function* overhead(
  s: { agent: string; verifier: string },
  verifierKey: JsonWebKey,
): AsyncGenerator<BenchRecord> {
  const tmb = createVerifiedFetch({ verifierUrl: s.verifier, verifierKey });
  const res = await post(tmb.fetch, s.agent);
  await res.arrayBuffer();
  const r = await tmb.verify(res);
  if (!r.ok || r.receipt === undefined || r.receiptId === null) throw new Error('no verified answer');
  const id = r.receiptId;
  const { bound } = await verifyResult(r.result, verifierKey, id);
  if (bound === null) throw new Error('no bound result');
  // An attestation as a TPM agent's answer carries it: note, 20-hash proof, quote, AK public area.
  const h = () => toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const attestation = {
    checkpoint: `tmb/agent/${AGENT}\n1048576\n${h()}\n\n\u2014 tmb/agent/${AGENT} ${h()}${h()}\n`,
    checkpointKey: h(),
    proof: { v: 1, index: 1000, size: 1048576, hashes: Array.from({ length: 20 }, h) },
    quote: { attest: h().repeat(4), signature: h().repeat(9), pcrs: h().repeat(3), nonce: h() },
    akPublic: h().repeat(10),
    pcr: 11,
  };
  const signed = { ...bound, attestationSha256: attestationDigest(attestation) };
  const receiptBytes = fromBase64Url(r.receipt.body);
  const headers = new Headers({ 'content-type': 'application/json' });
  const plain = await p50(200, async () => {
    const x = await post(fetch, s.agent);
    await x.arrayBuffer();
  });
  const nonce = await p50(OVERHEAD_SAMPLES, () =>
    headers.set(CLIENT_NONCE_HEADER, toBase64Url(crypto.getRandomValues(new Uint8Array(32)))),
  );
  const binding = await p50(OVERHEAD_SAMPLES, () => {
    const b = bindingCheck(signed, { receiptBytes, agentKey: bound.agentKey, attestation });
    if (b.check.status !== 'pass') throw new Error(b.check.detail);
  });
  const whole = await p50(OVERHEAD_SAMPLES / 4, () => verifyResult(r.result, verifierKey, id));
  const added = nonce + binding;
  const ms = (v: number) => Math.round(v * 10_000) / 10_000;
  yield { bench: 'client', metric: 'added_nonce_ms_p50', value: ms(nonce), unit: 'ms', baseline: null };
  yield { bench: 'client', metric: 'added_binding_ms_p50', value: ms(binding), unit: 'ms', baseline: null };
  yield { bench: 'client', metric: 'added_ms_p50', value: ms(added), unit: 'ms', baseline: ms(plain) };
  yield {
    bench: 'client',
    metric: 'added_over_plain_request',
    value: Math.round((added / plain) * 10_000) / 10_000,
    unit: 'ratio',
    baseline: null,
  };
  yield { bench: 'client', metric: 'bound_verify_ms_p50', value: ms(whole), unit: 'ms', baseline: null };
}
