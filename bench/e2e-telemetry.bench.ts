/**
 * The verifier's side of telemetry, in one process on 127.0.0.1:
 * - ingest: POST /v1/telemetry of 1-second batches (10 samples at 10 Hz) from one agent, one
 *   at a time, for 2 s: batches per second; baseline: GET /healthz round trips over the same time.
 * - link: the telemetry.consistent finding of one receipt (SQLite window query, features,
 *   score) with one hour of samples stored; baseline: requestFeatures on the same window in memory.
 */
import { toBase64Url } from '@tmb/core';
import { type Profile, requestFeatures, type Sample } from '@tmb/stats';
import { startVerifier } from '@tmb/verifier';
import { batchHead, GENESIS } from '../packages/verifier/src/telemetry/chain.ts';
import { linkReceipt } from '../packages/verifier/src/telemetry/link.ts';
import { SqliteTelemetryStore } from '../packages/verifier/src/telemetry/store.ts';
import type { BenchRecord } from './record.ts';

const B = 'e2e-telemetry';
const TOKEN = 'bench-token-0123456789abcdef';
const T0 = 1_764_000_000_000;

function samples(from: number, n: number): Sample[] {
  return Array.from({ length: n }, (_, i) => ({
    t: T0 + (from + i) * 100 + 0.25,
    powerW: 400 + (i % 7),
    energyJ: 1e6 + (from + i) * 40,
    utilGpu: 90 + (i % 10),
    memUsedMiB: 73412,
    // The GPU identity every agent sample carries (docs/telemetry.md), matching the profile's gpuModel.
    uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660',
    name: 'G',
  }));
}

async function ingest(url: string): Promise<{ perS: number; baseline: number }> {
  let head: Uint8Array = GENESIS;
  let seq = 0;
  const until = performance.now() + 2000;
  while (performance.now() < until) {
    const gpu = samples(seq * 10, 10);
    const next = batchHead(head, { seq, gpu, proc: [] });
    const r = await fetch(`${url}/v1/telemetry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        agent: 'bench',
        batches: [{ seq, prevHead: toBase64Url(head), head: toBase64Url(next), gpu, proc: [] }],
      }),
    });
    if (r.status !== 200) throw new Error(`ingest answered ${r.status}`);
    await r.arrayBuffer();
    head = next;
    seq++;
  }
  let n = 0;
  const end = performance.now() + 2000;
  while (performance.now() < end) {
    await (await fetch(`${url}/healthz`)).arrayBuffer();
    n++;
  }
  return { perS: seq / 2, baseline: n / 2 };
}

export async function* run(): AsyncIterable<BenchRecord> {
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'bench' }] });
  try {
    const { perS, baseline } = await ingest(v.url);
    yield { bench: B, metric: 'ingest_batches_per_s', value: perS, unit: 'batches/s', baseline };
  } finally {
    await v.close();
  }
  const store = new SqliteTelemetryStore(':memory:', 1_000_000);
  const hour = samples(0, 36_000);
  await store.append('a', undefined, { chain: 0, nextSeq: 1, head: GENESIS, restarts: 0 }, [
    { chain: 0, seq: 0, head: GENESIS, gpu: hour },
  ]);
  const profile: Profile = {
    v: 1,
    key: {
      modelDigest: 'name:m',
      gpuModel: 'G',
      gpuCount: 1,
      engine: 'e',
      engineVersion: '1',
      concurrencyBucket: '1',
    },
    n: 100,
    features: {
      energyPerToken: { mu: Math.log(9), sigma: 0.15 },
      tokensPerSecond: { mu: Math.log(45), sigma: 0.1 },
      utilization: { alpha: 20, beta: 2 },
    },
    descriptive: { powerLimitW: 700 },
    calibration: { fpr: 0.001, logLikelihoodThreshold: -10, heldOut: 1000 },
  };
  const N = 2000;
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    const start = T0 + 1000 * (i % 3000);
    await linkReceipt(
      {
        id: i.toString(16).padStart(32, '0'),
        agent: 'a',
        model: { requested: 'm', reported: 'm' },
        usage: { prompt: 1, completion: 100, total: 101 },
        response: { stream: true },
        time: { start: start * 1000, firstByte: (start + 200) * 1000, end: (start + 2400) * 1000 },
        outcome: 'complete',
      } as Parameters<typeof linkReceipt>[0],
      store,
      [{ id: 'p', profile, file: 'p.json' }],
    );
  }
  const link = (performance.now() - t) / N;
  t = performance.now();
  for (let i = 0; i < N; i++) {
    const start = T0 + 1000 * (i % 3000);
    const w = hour.slice((start - T0) / 100 - 1, (start - T0) / 100 + 26);
    requestFeatures(w, [{ id: 'x', start, firstToken: start + 200, end: start + 2400, outputTokens: 100 }]);
  }
  const base = (performance.now() - t) / N;
  store.close();
  yield { bench: B, metric: 'link_per_receipt', value: link, unit: 'ms', baseline: base };
}
