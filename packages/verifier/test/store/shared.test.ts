import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { BatchChain } from '@tmb/agent/telemetry';
import { toBase64Url } from '@tmb/core';
import type { HostSegment } from '@tmb/core/host';
import { startVerifier } from '@tmb/verifier';
import fc from 'fast-check';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { createAttestService } from '../../src/attest/service.ts';
import { BoundedMap } from '../../src/store/bounded.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { VersionedRows } from '../../src/store/versioned.ts';
import { TelemetryService } from '../../src/telemetry/service.ts';
import { Waiters } from '../../src/waiters.ts';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody } from '../fixtures.ts';

// Issue 12: several verifier processes on one database (docs/deploy.md, "Several processes").
// Two instances on one SQLite file stand for two processes behind a load balancer: what one
// learns, the other must find, and what may happen once happens once across both.

async function dbFile(t: TestContext): Promise<string> {
  // Removed after everything the test stops (test/fixtures/cleanup.ts), whatever the order.
  return join(await closers(t).dir('tmb-shared-'), 'v.db');
}

async function twoStores(t: TestContext): Promise<[SqliteStore, SqliteStore]> {
  const path = await dbFile(t);
  const a = new SqliteStore(path);
  const b = new SqliteStore(path);
  closers(t).add(() => a.close(), 'store a');
  closers(t).add(() => b.close(), 'store b');
  return [a, b];
}

test('a key enrolled at one verifier signs receipts another accepts, and a long-poll there is woken', async (t) => {
  const path = await dbFile(t);
  const a = await startVerifier({ dbPath: path, tokens: agentTokens('gpu-1'), maxWaitMs: 60_000 });
  closers(t).add(() => a.close(), 'verifier a');
  const b = await startVerifier({ dbPath: path, tokens: agentTokens('gpu-1') });
  closers(t).add(() => b.close(), 'verifier b');
  const k = newKey('gpu-1');
  assert.equal((await call(`${b.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const first = signBody(k, receiptBody(k, { seq: 0 }));
  const pushed = await call(`${a.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [first] });
  assert.equal(pushed.json.accepted, 1, JSON.stringify(pushed.json));
  const second = receiptBody(k, { seq: 1 });
  // Waiting at A for a receipt that B will store: A cannot be told, it finds it in the store.
  const waiting = call(`${a.url}/v1/receipts/${second.id}?wait=60000`, 'GET');
  const late = await call(`${b.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, second)],
  });
  assert.equal(late.json.accepted, 1);
  const got = await waiting;
  assert.equal(got.status, 200);
  assert.equal((got.json.body as { id: string }).id, second.id);
});

test('a waiter at one instance is woken by a receipt stored through another, within its bound', async (t) => {
  const [a, b] = await twoStores(t);
  const w = new Waiters({ poll: (ids) => a.storedReceipts(ids), minPollMs: 5, maxPollMs: 50 });
  const k = newKey('gpu-1');
  await b.addKey({ agent: 'gpu-1', keyId: k.keyId, key: k.raw, enrolledAt: 1 });
  const body = receiptBody(k);
  const woken = w.wait(body.id, 60_000, new AbortController().signal);
  assert.equal(w.size, 1, 'waiting before the receipt exists anywhere');
  const [stored] = await b.putReceipts([
    {
      id: body.id,
      requestId: 'r',
      agent: 'gpu-1',
      keyId: k.keyId,
      body: new Uint8Array([1]),
      sig: new Uint8Array(64),
      receivedAt: 1,
    },
  ]);
  assert.equal(stored, 'inserted');
  assert.equal(await woken, true, 'woken by the poll, not by its 60 s timeout');
  assert.equal(w.size, 0);
});

test('a quote nonce issued at one instance is used once at another; a pending AK is taken once', async (t) => {
  const [a, b] = await twoStores(t);
  const sa = createAttestService(a, { roots: [], nonceTtlMs: 60_000 });
  const sb = createAttestService(b, { roots: [], nonceTtlMs: 60_000 });
  const { nonce } = await sa.nonces.issue('gpu-1');
  assert.equal(await sb.nonces.consume('gpu-1', nonce), undefined);
  assert.equal((await sa.nonces.consume('gpu-1', nonce))?.code, 'NONCE_REUSED');
  const pending = {
    secretSha256: new Uint8Array(32).fill(7),
    ekPublic: new Uint8Array([1, 2]),
    akPublic: new Uint8Array([3, 4]),
    akName: new Uint8Array([0, 11, 5]),
    ekCertificate: null,
    ekCheck: { name: 'host.ek_certificate', status: 'skipped' as const, detail: 'none sent' },
    tpm: { rootClass: 'none' } as never,
    pcr: 15,
    expires: Date.now() + 60_000,
  };
  await sa.pending.set('gpu-1', pending);
  assert.equal(await sb.pending.has('gpu-1'), true);
  const takes = await Promise.all([sb.pending.take('gpu-1'), sa.pending.take('gpu-1')]);
  const won = takes.filter((p) => p !== undefined);
  assert.equal(won.length, 1, 'one activation answer activates once across processes');
  assert.deepEqual(won[0], pending);
  assert.equal(await sa.pending.has('gpu-1'), false);
});

test('host segments recorded at one instance are read at the other, and neither loses the other’s', async (t) => {
  const [a, b] = await twoStores(t);
  const sa = createAttestService(a, { roots: [], nonceTtlMs: 1000 });
  const sb = createAttestService(b, { roots: [], nonceTtlMs: 1000 });
  const seg = (size: number) => ({ size, resetCount: 0, weights: [`w${size}`] }) as unknown as HostSegment;
  await sa.segments.record('gpu-1', seg(10));
  assert.deepEqual(
    (await sb.segments.of('gpu-1')).segments.map((s) => s.size),
    [10],
  );
  await sb.segments.record('gpu-1', seg(20));
  // A read its copy before B wrote: the version tells it the copy is stale.
  assert.deepEqual(
    (await sa.segments.of('gpu-1')).segments.map((s) => s.size),
    [10, 20],
  );
  await Promise.all([sa.segments.record('gpu-1', seg(30)), sb.segments.record('gpu-1', seg(40))]);
  const sizes = (await sb.segments.of('gpu-1')).segments.map((s) => s.size);
  assert.ok(sizes.includes(10) && sizes.includes(20), `${sizes}`);
  assert.ok(sizes.includes(40) || sizes.includes(30), 'a concurrent update is kept, folded on the other');
});

test('an update of a shared row is a compare-and-set: concurrent updates through two stores all count', async (t) => {
  const [a, b] = await twoStores(t);
  const ra = new VersionedRows<{ n: number }>(a, () => ({ n: 0 }));
  const rb = new VersionedRows<{ n: number }>(b, () => ({ n: 0 }));
  const add = (x: { n: number }) => ({ n: x.n + 1 });
  // Each side serialises its own (as HostAppraiser and Segments do); the two sides race.
  const side = async (r: VersionedRows<{ n: number }>) => {
    for (let i = 0; i < 5; i++) await r.update('count gpu-1', add);
  };
  await Promise.all([side(ra), side(rb)]);
  assert.deepEqual(await ra.get('count gpu-1'), { n: 10 });
  assert.deepEqual(await rb.get('count gpu-1'), { n: 10 });
});

test('telemetry pushed at one instance continues at the other; a push raced at both is stored once', async (t) => {
  const path = await dbFile(t);
  const a = new TelemetryService(path);
  const b = new TelemetryService(path);
  closers(t).add(() => a.close(), 'telemetry a');
  closers(t).add(() => b.close(), 'telemetry b');
  const batches = wire(3);
  assert.equal((await a.ingest('gpu-1', batches.slice(0, 1))).accepted, 1);
  const next = await b.ingest('gpu-1', batches.slice(1, 2));
  assert.deepEqual([next.accepted, next.seq], [1, 2], 'B continues the chain A stored');
  const raced = await Promise.all([a.ingest('gpu-1', batches.slice(2)), b.ingest('gpu-1', batches.slice(2))]);
  assert.deepEqual(
    raced.map((r) => r.accepted + r.duplicate),
    [1, 1],
  );
  assert.equal(raced[0]!.accepted + raced[1]!.accepted, 1, 'the batch is stored once');
  assert.equal((await a.store.chain('gpu-1'))?.nextSeq, 3);
});

test('the in-memory caches never hold more than their cap', async () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }),
      (cap, ops) => {
        const m = new BoundedMap<number, number>(cap);
        const model: number[] = []; // least recently used first
        for (const [write, k] of ops) {
          if (write) m.set(k, k);
          else if (m.get(k) === undefined) continue;
          const at = model.indexOf(k);
          if (at >= 0) model.splice(at, 1);
          model.push(k);
          while (model.length > cap) model.shift();
          assert.ok(m.size <= cap);
          assert.deepEqual([...m.keys()], model, 'the least recently used entry is dropped first');
        }
      },
    ),
  );
  const store = new SqliteStore(':memory:');
  const rows = new VersionedRows<number>(store, () => 0, 3);
  for (let i = 0; i < 10; i++) {
    await rows.update(`row ${i}`, (n) => n + i);
    assert.ok(rows.held <= 3);
  }
  assert.equal(await rows.get('row 9'), 9, 'a row dropped from memory is read again');
  await store.close();
});

/** `n` telemetry batches in wire form, chained from genesis (as the agent's BatchChain cuts them). */
function wire(n: number): unknown[] {
  const chain = new BatchChain();
  const out: unknown[] = [];
  let t = 1_764_000_000_000;
  for (let i = 0; i < n; i++) {
    t += 100;
    chain.addGpu({ t, gpu: 0, powerW: 300, energyJ: t / 1000, utilGpu: 90 });
    const prevHead = toBase64Url(chain.head);
    const c = chain.cut()!;
    out.push({ seq: c.batch.seq, prevHead, head: toBase64Url(c.head), gpu: c.batch.gpu, proc: [] });
  }
  return out;
}
