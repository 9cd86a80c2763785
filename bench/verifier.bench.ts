/**
 * The verifier: receipts ingested per second over HTTP (POST /v1/receipts, batches of 500 as an
 * agent pushes them, one batch in flight) into a real startVerifier on a SQLite file, against
 * core's checkSignedReceipt alone on the same receipts in the same run (the verifier's per-receipt
 * floor); then GET /v1/receipts/:id latency, p50 and p99 at concurrency 1, against GET /healthz,
 * the two interleaved request by request. The verifier runs in its own thread (this file is also
 * its worker entry) so the load generator does not share its event loop. Loopback only; bounded:
 * at most 40 batches or 8 s of pushing, 2,000 GETs of each kind or 5 s.
 */
import { sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type AgentKey, generateAgentKey } from '@tmb/agent';
import {
  checkSignedReceipt,
  encodeReceiptBody,
  type ReceiptBody,
  receiptSigningMessage,
  type SignedReceipt,
  toBase64Url,
  toSignedReceipt,
} from '@tmb/core';
import { startVerifier } from '@tmb/verifier';
import { type BenchRecord, percentile } from './record.ts';
import { chatFields, type Hosted, hostWorker } from './servers.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const AGENT = 'bench';
const BATCH = 500;
const MAX_BATCHES = 40;
const PUSH_MS = 8_000;
const MAX_GETS = 2_000;
const GET_MS = 5_000;

// Worker side: host the verifier until told to close.
if (!isMainThread && (workerData as { role?: string } | null)?.role === 'tmb-bench-verifier') {
  const { dbPath } = workerData as { dbPath: string };
  const v = await startVerifier({ dbPath, tokens: [{ token: TOKEN, agent: AGENT }], rateLimit: false });
  parentPort!.postMessage({ url: v.url });
  parentPort!.once('message', async () => {
    await v.close();
    parentPort!.postMessage({ closed: true });
  });
}

interface Reply {
  status: number;
  ms: number;
  body: string;
}

/** One request over a keep-alive node:http agent, the whole answer read; `ms` to its last byte. */
function call(agent: HttpAgent, url: string, method: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const headers: Record<string, string | number> = { authorization: `Bearer ${TOKEN}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = httpRequest(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          ms: Number(process.hrtime.bigint() - t0) / 1e6,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `n` receipts signed by `key` as an agent signs them, and their ids. */
function receipts(key: AgentKey, n: number): { signed: SignedReceipt[]; ids: string[] } {
  const signed: SignedReceipt[] = [];
  const ids: string[] = [];
  const now = Date.now() * 1000;
  for (let i = 0; i < n; i++) {
    const body: ReceiptBody = {
      v: 2,
      type: 'tmb.receipt',
      agent: AGENT,
      key: key.keyId,
      seq: i,
      ...chatFields(i, now),
      served: { weights: null, engine: null },
    };
    const bytes = encodeReceiptBody(body);
    signed.push(
      toSignedReceipt(bytes, new Uint8Array(sign(null, receiptSigningMessage(bytes), key.privateKey))),
    );
    ids.push(body.id);
  }
  return { signed, ids };
}

function hostVerifier(dbPath: string): Promise<Hosted> {
  return hostWorker(new URL(import.meta.url), { role: 'tmb-bench-verifier', dbPath });
}

/** Yields ingest receipts/s (baseline: checkSignedReceipt/s) and GET receipt p50/p99 (baseline: /healthz). */
export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-verifier-'));
  const v = await hostVerifier(join(dir, 'verifier.db'));
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    const key = generateAgentKey(AGENT);
    const enrol = { agent: AGENT, key: toBase64Url(key.publicKey), proof: toBase64Url(key.proof) };
    const e = await call(agent, `${v.url}/v1/agents/enroll`, 'POST', JSON.stringify(enrol));
    if (e.status !== 200) throw new Error(`enrol answered ${e.status}: ${e.body}`);
    const { signed: all, ids } = receipts(key, BATCH * MAX_BATCHES);

    // Baseline: the per-receipt check alone, same receipts, same thread as the pushes are made.
    const t0 = performance.now();
    for (const r of all) {
      const c = checkSignedReceipt(r, () => key.publicKey);
      if (c.checks[1]?.status !== 'pass') throw new Error('baseline receipt does not verify');
    }
    const checkPerS = all.length / ((performance.now() - t0) / 1000);

    const bodies: string[] = [];
    for (let b = 0; b < MAX_BATCHES; b++)
      bodies.push(JSON.stringify({ agent: AGENT, receipts: all.slice(b * BATCH, (b + 1) * BATCH) }));
    let pushed = 0;
    const t1 = performance.now();
    for (const body of bodies) {
      if (performance.now() - t1 > PUSH_MS) break;
      const r = await call(agent, `${v.url}/v1/receipts`, 'POST', body);
      const answer = JSON.parse(r.body) as { accepted?: number };
      if (r.status !== 200 || answer.accepted !== BATCH)
        throw new Error(`push answered ${r.status}: ${r.body.slice(0, 200)}`);
      pushed += BATCH;
    }
    const ingestPerS = pushed / ((performance.now() - t1) / 1000);
    yield {
      bench: 'verifier',
      metric: 'ingest_receipts_per_s',
      value: Math.round(ingestPerS),
      unit: 'receipts/s',
      baseline: Math.round(checkPerS),
    };

    const got: number[] = [];
    const health: number[] = [];
    const t2 = performance.now();
    for (let i = 0; i < MAX_GETS && performance.now() - t2 < GET_MS; i++) {
      const h = await call(agent, `${v.url}/healthz`, 'GET');
      const r = await call(agent, `${v.url}/v1/receipts/${ids[(i * 7919) % pushed]}`, 'GET');
      if (h.status !== 200 || r.status !== 200) throw new Error(`GET answered ${h.status}/${r.status}`);
      health.push(h.ms);
      got.push(r.ms);
    }
    got.sort((a, b) => a - b);
    health.sort((a, b) => a - b);
    for (const p of [50, 99]) {
      yield {
        bench: 'verifier',
        metric: `get_receipt_p${p}`,
        value: round3(percentile(got, p)),
        unit: 'ms',
        baseline: round3(percentile(health, p)),
      };
    }
  } finally {
    agent.destroy();
    await v.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
