import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchChain, batchBytes, chainHead, type GpuSample } from '@tmb/agent/telemetry';
import { toBase64Url } from '@tmb/core';
import { startVerifier } from '@tmb/verifier';
import fc from 'fast-check';
import { batchHead, checkChain, GENESIS, type PushedBatch } from '../../src/telemetry/chain.ts';
import { agentTokens, call } from '../fixtures.ts';

const H100 = { name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660' };

/** `n` batches as the agent's BatchChain cuts them, three samples each (with `id`: naming their GPU). */
function agentBatches(
  n: number,
  t0 = 1_764_000_000_000,
  id: { name?: string; uuid?: string } = {},
): PushedBatch[] {
  const chain = new BatchChain();
  const out: PushedBatch[] = [];
  let t = t0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 3; j++) {
      t += 100.125;
      const s: GpuSample = { t, gpu: 0, ...id, powerW: 300 + j, energyJ: t / 1000, utilGpu: 90 };
      chain.addGpu(s);
    }
    const prevHead = chain.head;
    const c = chain.cut()!;
    out.push({ seq: c.batch.seq, prevHead, head: c.head, gpu: c.batch.gpu, proc: [] });
  }
  return out;
}

const noStored = () => undefined;

test('the verifier recomputes the agent chain head exactly (same bytes, same hash)', () => {
  const bs = agentBatches(4);
  let head: Uint8Array = GENESIS;
  for (const b of bs) head = batchHead(head, b);
  assert.deepEqual(head, bs.at(-1)!.head);
  const bytes = bs.map((b) => batchBytes({ v: 1, seq: b.seq, gpu: b.gpu as GpuSample[], proc: [] }));
  assert.deepEqual(chainHead(bytes), head);
});

test('GPU identity rides in v1 batches as two optional members: exact bytes, same head, edits detected', () => {
  // The additive change of issue 8: `name` and `uuid` are sorted into the canonical JSON like
  // every other member; a batch without them (an older agent) has exactly the bytes it had.
  const one = (s: GpuSample) => new TextDecoder().decode(batchBytes({ v: 1, seq: 0, gpu: [s], proc: [] }));
  assert.equal(
    one({ t: 1.5, gpu: 0, ...H100, powerW: 300 }),
    '{"gpu":[{"gpu":0,"name":"NVIDIA H100 80GB HBM3","powerW":300,"t":1.5,"uuid":"GPU-34319582-d595-d1c7-d1d2-179bcfa61660"}],"proc":[],"seq":0,"v":1}',
  );
  assert.equal(
    one({ t: 1.5, gpu: 0, powerW: 300 }),
    '{"gpu":[{"gpu":0,"powerW":300,"t":1.5}],"proc":[],"seq":0,"v":1}',
  );
  const bs = agentBatches(3, undefined, H100);
  assert.equal(checkChain(undefined, bs, noStored).accept.length, 3);
  for (const edit of [
    { name: 'NVIDIA A100-SXM4-80GB' },
    { uuid: 'GPU-604ac76c-d9cf-fef3-62e9-d92044ab6e52' },
    { name: undefined },
  ]) {
    const gpu = bs[1]!.gpu.map((y, i) => (i === 0 ? { ...y, ...edit } : y));
    const edited = bs.map((y, i) => (i === 1 ? { ...y, gpu: JSON.parse(JSON.stringify(gpu)) } : y));
    assert.throws(
      () => checkChain(undefined, edited, noStored),
      { code: 'TELEMETRY_BATCH_TAMPERED' },
      JSON.stringify(edit),
    );
  }
});

test('a chain that continues is accepted in order; the state ends at the last head', () => {
  const bs = agentBatches(3);
  const out = checkChain(undefined, bs, noStored);
  assert.equal(out.accept.length, 3);
  assert.equal(out.state.nextSeq, 3);
  assert.deepEqual(out.state.head, bs[2]!.head);
  // The same batches again, after a lost answer: duplicates, nothing stored twice.
  const again = checkChain(out.state, bs, (chain, seq) => (chain === 0 ? bs[seq]?.head : undefined));
  assert.equal(again.duplicate, 3);
  assert.equal(again.accept.length, 0);
});

test('a dropped batch is TELEMETRY_CHAIN_BROKEN', () => {
  const bs = agentBatches(3);
  assert.throws(() => checkChain(undefined, [bs[0]!, bs[2]!], noStored), {
    code: 'TELEMETRY_CHAIN_BROKEN',
    message: /seq 2 where 1 was due/,
  });
});

test('reordered batches are TELEMETRY_CHAIN_BROKEN', () => {
  const bs = agentBatches(3);
  assert.throws(() => checkChain(undefined, [bs[0]!, bs[2]!, bs[1]!], noStored), {
    code: 'TELEMETRY_CHAIN_BROKEN',
  });
});

test('an edited sample is TELEMETRY_BATCH_TAMPERED', () => {
  const bs = agentBatches(2);
  const edited = { ...bs[1]!, gpu: bs[1]!.gpu.map((s, i) => (i === 1 ? { ...s, powerW: 180 } : s)) };
  assert.throws(() => checkChain(undefined, [bs[0]!, edited], noStored), {
    code: 'TELEMETRY_BATCH_TAMPERED',
  });
});

test('a batch whose prevHead is not the last head is TELEMETRY_CHAIN_BROKEN, even if its own head recomputes', () => {
  const a = agentBatches(2);
  const b = agentBatches(2, 5);
  assert.throws(() => checkChain(undefined, [a[0]!, b[1]!], noStored), {
    code: 'TELEMETRY_CHAIN_BROKEN',
    message: /prevHead/,
  });
});

test('seq 0 from the genesis head starts a new chain (an agent restart), counted', () => {
  const first = checkChain(undefined, agentBatches(2), noStored);
  const restarted = checkChain(first.state, agentBatches(1, 99), noStored);
  assert.equal(restarted.state.chain, 1);
  assert.equal(restarted.state.restarts, 1);
  assert.equal(restarted.state.nextSeq, 1);
});

test('POST /v1/telemetry: auth, a chain over HTTP, and a tampered batch refused with nothing stored', async () => {
  const v = await startVerifier({ dbPath: ':memory:', tokens: agentTokens('g') });
  const wire = (b: PushedBatch) => ({ ...b, prevHead: toBase64Url(b.prevHead), head: toBase64Url(b.head) });
  try {
    const bs = agentBatches(3);
    const noAuth = await call(`${v.url}/v1/telemetry`, 'POST', { agent: 'g', batches: [] }, null);
    assert.equal(noAuth.status, 401);
    const ok = await call(`${v.url}/v1/telemetry`, 'POST', { agent: 'g', batches: bs.slice(0, 2).map(wire) });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, {
      accepted: 2,
      duplicate: 0,
      chain: 0,
      seq: 2,
      head: toBase64Url(bs[1]!.head),
    });
    const bad = { ...wire(bs[2]!), gpu: [{ ...bs[2]!.gpu[0]!, energyJ: 1 }, ...bs[2]!.gpu.slice(1)] };
    const tampered = await call(`${v.url}/v1/telemetry`, 'POST', { agent: 'g', batches: [bad] });
    assert.equal(tampered.status, 422);
    assert.equal((tampered.json.error as { code: string }).code, 'TELEMETRY_BATCH_TAMPERED');
    const gap = await call(`${v.url}/v1/telemetry`, 'POST', {
      agent: 'g',
      batches: [wire(agentBatches(4)[3]!)],
    });
    assert.equal(gap.status, 409);
    assert.equal((gap.json.error as { code: string }).code, 'TELEMETRY_CHAIN_BROKEN');
    const malformed = await call(`${v.url}/v1/telemetry`, 'POST', {
      agent: 'g',
      batches: [{ ...wire(bs[2]!), gpu: [{ t: 'soon' }] }],
    });
    assert.equal(malformed.status, 400);
    for (const id of [{ name: 7 }, { uuid: '' }, { name: 'x'.repeat(257) }]) {
      const badId = await call(`${v.url}/v1/telemetry`, 'POST', {
        agent: 'g',
        batches: [{ ...wire(bs[2]!), gpu: [{ ...bs[2]!.gpu[0]!, ...id }] }],
      });
      assert.equal(badId.status, 400, JSON.stringify(id));
      assert.equal((badId.json.error as { code: string }).code, 'BODY_MALFORMED');
    }
    const state = await call(`${v.url}/v1/telemetry`, 'POST', { agent: 'g', batches: [wire(bs[2]!)] });
    assert.equal(state.json.seq, 3);
  } finally {
    await v.close();
  }
});

test('property: any reordering or dropped batch of a chain is refused with a named code, never accepted', () => {
  const bs = agentBatches(6);
  fc.assert(
    fc.property(
      fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 2 }).filter((ix) => ix.some((v, i) => v !== i)),
      (ix) => {
        assert.throws(
          () =>
            checkChain(
              undefined,
              ix.map((i) => bs[i]!),
              noStored,
            ),
          (err: { code?: string }) =>
            err.code === 'TELEMETRY_CHAIN_BROKEN' || err.code === 'TELEMETRY_BATCH_TAMPERED',
        );
      },
    ),
  );
});

test('property: changing any one number of any sample is TELEMETRY_BATCH_TAMPERED', () => {
  const bs = agentBatches(3);
  fc.assert(
    fc.property(
      fc.nat(2),
      fc.nat(2),
      fc.constantFrom('t', 'powerW', 'energyJ', 'utilGpu'),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      (b, s, k, x) => {
        const sample = bs[b]!.gpu[s]! as unknown as Record<string, number>;
        fc.pre(!Object.is(sample[k], x));
        const gpu = bs[b]!.gpu.map((y, i) => (i === s ? { ...y, [k]: x } : y));
        const edited = bs.map((y, i) => (i === b ? { ...y, gpu } : y));
        assert.throws(() => checkChain(undefined, edited, noStored), { code: 'TELEMETRY_BATCH_TAMPERED' });
      },
    ),
  );
});
