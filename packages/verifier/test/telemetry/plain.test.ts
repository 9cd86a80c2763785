import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchChain, type GpuSample } from '@tmb/agent/telemetry';
import { toBase64Url } from '@tmb/core';
import { VerifierError } from '../../src/errors.ts';
import { TelemetryService } from '../../src/telemetry/service.ts';

/** `n` batches as the agent's BatchChain cuts them, in their wire form (heads in base64url). */
function wireBatches(n: number): unknown[] {
  const chain = new BatchChain();
  const out: unknown[] = [];
  let t = 1_764_000_000_000;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 3; j++) {
      t += 100;
      const s: GpuSample = { t, gpu: 0, powerW: 300 + j, energyJ: t / 1000, utilGpu: 90 };
      chain.addGpu(s);
    }
    const prevHead = toBase64Url(chain.head);
    const c = chain.cut()!;
    out.push({ seq: c.batch.seq, prevHead, head: toBase64Url(c.head), gpu: c.batch.gpu, proc: [] });
  }
  return out;
}

test('TelemetryService ingests an agent name and the batches as sent, with no HTTP request', async (t) => {
  const svc = new TelemetryService(':memory:');
  t.after(() => svc.close());
  const bs = wireBatches(3);
  const first = await svc.ingest('gpu-1', bs.slice(0, 2));
  assert.deepEqual(
    { accepted: first.accepted, duplicate: first.duplicate, chain: first.chain, seq: first.seq },
    { accepted: 2, duplicate: 0, chain: 0, seq: 2 },
  );
  const again = await svc.ingest('gpu-1', bs);
  assert.equal(again.accepted, 1);
  assert.equal(again.duplicate, 2);
  assert.equal(again.head, (bs[2] as { head: string }).head);
  // Another agent's chain starts from its own genesis.
  assert.equal((await svc.ingest('gpu-2', bs.slice(0, 1))).accepted, 1);
});

test('TelemetryService refuses a malformed push with the same codes as over HTTP', async (t) => {
  const svc = new TelemetryService(':memory:');
  t.after(() => svc.close());
  const malformed = (e: unknown) => e instanceof VerifierError && e.code === 'BODY_MALFORMED';
  await assert.rejects(() => svc.ingest('gpu-1', 'not an array'), malformed);
  await assert.rejects(() => svc.ingest('gpu-1', [{ seq: -1 }]), malformed);
  await assert.rejects(
    () =>
      svc.ingest(
        'gpu-1',
        Array.from({ length: 101 }, () => ({})),
      ),
    (e: unknown) => e instanceof VerifierError && e.code === 'BATCH_TOO_LARGE',
  );
  const [b0, b1] = wireBatches(2) as Record<string, unknown>[];
  await assert.rejects(
    () => svc.ingest('gpu-1', [b1]),
    (e: unknown) => e instanceof VerifierError && e.code === 'TELEMETRY_CHAIN_BROKEN',
  );
  assert.equal((await svc.ingest('gpu-1', [b0])).accepted, 1);
});
