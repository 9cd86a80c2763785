import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BatchChain, batchBytes, chainHead, GENESIS_HEAD, SampleBuffer } from '@tmb/agent/telemetry';

const h = (...parts: Uint8Array[]) => {
  const x = createHash('sha256');
  for (const p of parts) x.update(p);
  return new Uint8Array(x.digest());
};

test('the chain head is SHA-256(domain || previous || SHA-256(batch))', () => {
  const c = new BatchChain();
  assert.equal(c.cut(), undefined, 'nothing pending, no batch');
  c.addGpu({ t: 1.5, gpu: 0, powerW: 62.87 });
  const one = c.cut()!;
  assert.equal(
    new TextDecoder().decode(one.bytes),
    '{"gpu":[{"gpu":0,"powerW":62.87,"t":1.5}],"proc":[],"seq":0,"v":1}',
  );
  const expected = h(new TextEncoder().encode('tmb-telemetry-batch-v1\0'), GENESIS_HEAD, h(one.bytes));
  assert.deepEqual(one.head, expected);
  c.addProc({ t: 2, pid: 9, cpuSeconds: 1.25, rssBytes: 4096 });
  const two = c.cut()!;
  assert.equal(two.batch.seq, 1);
  assert.deepEqual(chainHead([one.bytes, two.bytes]), two.head);
  // Reordering or dropping a batch changes the head.
  assert.notDeepEqual(chainHead([two.bytes, one.bytes]), two.head);
  assert.notDeepEqual(chainHead([two.bytes]), two.head);
  assert.deepEqual(batchBytes(one.batch), one.bytes);
});

test('the sample buffer returns a window with one sample beyond each edge, and stays bounded', () => {
  const b = new SampleBuffer(100);
  for (let i = 0; i < 1000; i++) b.push({ t: i * 10, gpu: 0 });
  assert.ok(b.length <= 125);
  assert.deepEqual(
    b.window(9500, 9530).map((s) => s.t),
    [9490, 9500, 9510, 9520, 9530, 9540],
  );
  b.push({ t: 5, gpu: 0 });
  assert.equal(b.window(0, 10).length, 1, 'an out-of-order sample is ignored');
});
