/**
 * The verifier's store: the same verifier (startVerifier in its own thread, this file is also its
 * worker entry) on SQLite and on PostgreSQL, in the same run. Receipts ingested per second over
 * HTTP (POST /v1/receipts, batches of 500, one in flight), then GET /v1/receipts/:id (the verdict,
 * recomputed from the stored bytes) p50 and p99 at concurrency 1. `value` is PostgreSQL,
 * `baseline` SQLite. PostgreSQL: TMB_TEST_PG_URL's server, else a private cluster of the installed
 * PostgreSQL (test/fixtures/pg.ts); without either the bench yields nothing and says why on
 * stderr. Loopback only; bounded: at most 20 batches or 8 s of pushing, 1,000 GETs or 5 s, each.
 */
import { sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { type AgentKey, generateAgentKey } from '@tmb/agent';
import {
  encodeReceiptBody,
  receiptSigningMessage,
  type SignedReceipt,
  toBase64Url,
  toSignedReceipt,
} from '@tmb/core';
import { startVerifier } from '@tmb/verifier';
import { pgSkip, startPg } from '../test/fixtures/pg.ts';
import { type BenchRecord, percentile } from './record.ts';
import { chatFields, type Hosted, hostWorker } from './servers.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const AGENT = 'bench';
const BATCH = 500;
const MAX_BATCHES = 20;
const PUSH_MS = 8_000;
const MAX_GETS = 1_000;
const GET_MS = 5_000;

// Worker side: host the verifier until told to close.
if (!isMainThread && (workerData as { role?: string } | null)?.role === 'tmb-bench-store') {
  const { dbPath, databaseUrl } = workerData as { dbPath: string; databaseUrl?: string };
  const v = await startVerifier({
    dbPath,
    databaseUrl,
    tokens: [{ token: TOKEN, agent: AGENT }],
    rateLimit: false,
  });
  parentPort!.postMessage({ url: v.url });
  parentPort!.once('message', async () => {
    await v.close();
    parentPort!.postMessage({ closed: true });
  });
}

/** One request over a keep-alive agent, the whole answer read; `ms` to its last byte. */
function call(agent: HttpAgent, url: string, method: string, body?: string) {
  return new Promise<{ status: number; ms: number; body: string }>((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const headers: Record<string, string | number> = { authorization: `Bearer ${TOKEN}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = httpRequest(url, { method, agent, headers, timeout: 60_000 }, (res) => {
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
    req.on('timeout', () => req.destroy(new Error('no answer in 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function receipts(key: AgentKey, n: number): { signed: SignedReceipt[]; ids: string[] } {
  const signed: SignedReceipt[] = [];
  const ids: string[] = [];
  const now = Date.now() * 1000;
  for (let i = 0; i < n; i++) {
    const fields = chatFields(i, now);
    const bytes = encodeReceiptBody({
      v: 2,
      type: 'tmb.receipt',
      agent: AGENT,
      key: key.keyId,
      seq: i,
      ...fields,
      served: { weights: null, engine: null },
    });
    signed.push(
      toSignedReceipt(bytes, new Uint8Array(sign(null, receiptSigningMessage(bytes), key.privateKey))),
    );
    ids.push(fields.id);
  }
  return { signed, ids };
}

interface Measured {
  ingest: number;
  p50: number;
  p99: number;
}

/** Pushes, then reads verdicts, against a verifier hosted with `data`. */
async function measure(data: { dbPath: string; databaseUrl?: string }): Promise<Measured> {
  // Signed before the verifier starts: signing 10,000 receipts on a loaded machine can outlast the
  // server's 5 s keep-alive, and the first push would then meet a closing socket (EPIPE).
  const key = generateAgentKey(AGENT);
  const { signed, ids } = receipts(key, BATCH * MAX_BATCHES);
  const v: Hosted = await hostWorker(new URL(import.meta.url), { role: 'tmb-bench-store', ...data });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    const enrol = { agent: AGENT, key: toBase64Url(key.publicKey), proof: toBase64Url(key.proof) };
    const e = await call(agent, `${v.url}/v1/agents/enroll`, 'POST', JSON.stringify(enrol));
    if (e.status !== 200) throw new Error(`enrol answered ${e.status}: ${e.body}`);
    let pushed = 0;
    const t1 = performance.now();
    for (let b = 0; b < MAX_BATCHES && performance.now() - t1 < PUSH_MS; b++) {
      const body = JSON.stringify({ agent: AGENT, receipts: signed.slice(b * BATCH, (b + 1) * BATCH) });
      const r = await call(agent, `${v.url}/v1/receipts`, 'POST', body);
      if (r.status !== 200 || (JSON.parse(r.body) as { accepted?: number }).accepted !== BATCH)
        throw new Error(`push answered ${r.status}: ${r.body.slice(0, 200)}`);
      pushed += BATCH;
    }
    const ingest = pushed / ((performance.now() - t1) / 1000);
    const got: number[] = [];
    const t2 = performance.now();
    for (let i = 0; i < MAX_GETS && performance.now() - t2 < GET_MS; i++) {
      const r = await call(agent, `${v.url}/v1/receipts/${ids[(i * 7919) % pushed]}`, 'GET');
      if (r.status !== 200) throw new Error(`GET answered ${r.status}`);
      got.push(r.ms);
    }
    got.sort((a, b) => a - b);
    return { ingest, p50: percentile(got, 50), p99: percentile(got, 99) };
  } finally {
    agent.destroy();
    await v.close();
  }
}

/** Yields PostgreSQL's ingest receipts/s and verdict GET p50/p99, SQLite's as the baseline. */
export async function* run(): AsyncGenerator<BenchRecord> {
  const why = pgSkip();
  if (why !== false) {
    process.stderr.write(`store bench skipped: ${why}\n`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-store-'));
  const pg = await startPg();
  try {
    const lite = await measure({ dbPath: join(dir, 'verifier.db') });
    const post = await measure({ dbPath: ':memory:', databaseUrl: await pg.newDatabase() });
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    yield {
      bench: 'store',
      metric: 'pg_ingest_receipts_per_s',
      value: Math.round(post.ingest),
      unit: 'receipts/s',
      baseline: Math.round(lite.ingest),
    };
    yield {
      bench: 'store',
      metric: 'pg_get_receipt_p50',
      value: r3(post.p50),
      unit: 'ms',
      baseline: r3(lite.p50),
    };
    yield {
      bench: 'store',
      metric: 'pg_get_receipt_p99',
      value: r3(post.p99),
      unit: 'ms',
      baseline: r3(lite.p99),
    };
  } finally {
    await pg.close();
    await rm(dir, { recursive: true, force: true });
  }
}
