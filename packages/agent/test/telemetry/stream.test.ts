import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { type SpawnFn, TelemetryStream, telemetryExtension } from '@tmb/agent/telemetry';
import { toBase64, toBase64Url } from '@tmb/core';
import { startVerifier } from '@tmb/verifier';

const FAKE = new URL('fake-nvidia-smi.ts', import.meta.url).pathname;
const TOKEN = 't'.repeat(32);
// Runs the fake nvidia-smi (TypeScript) with this node, whatever command the collector names.
const fakeSpawn: SpawnFn = (_command, args) =>
  spawn(process.execPath, [FAKE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** The verifier's chain state for `agent`: an empty push answers it. */
async function chainState(url: string, agent: string) {
  const r = await fetch(`${url}/v1/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent, batches: [] }),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { chain: number; seq: number; head: string };
}

test('samples from nvidia-smi reach the verifier over HTTP as a digest chain whose head the agent holds', async () => {
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'gpu-1' }] });
  const s = new TelemetryStream(
    { url: v.url, token: TOKEN, name: 'gpu-1' },
    { spawn: fakeSpawn, intervalMs: 20, pushIntervalMs: 50 },
  );
  try {
    s.start();
    await until(() => s.counts.batchesPushed >= 3);
    // Stop sampling and the push timer, pushing what is left: the head then stays put while
    // it is compared with the verifier's (a running stream cuts a new batch every 50 ms).
    await s.close();
    const { head, count } = s.head();
    assert.ok(count >= 3);
    const state = await chainState(v.url, 'gpu-1');
    assert.equal(state.seq, count);
    assert.equal(state.head, toBase64Url(head));
    assert.equal(state.chain, 0);
    assert.equal(s.counts.pushFailures, 0);
    // What the receipt log's checkpoint carries to commit to the stream.
    assert.equal(telemetryExtension(s), `tmb-telemetry ${count} ${toBase64(head)}`);
    // The samples are stamped on the receipts' clock: Unix milliseconds, now.
    assert.ok(s.counts.samples > 0);
    // The tool is asked for the GPU's identity with every line, and it parsed cleanly.
    assert.match(s.collector!.args[0]!, /^--query-gpu=timestamp,index,uuid,name,power\.draw,/);
    assert.deepEqual(s.collector!.parser.counts.nonZero(), {});
  } finally {
    await s.close();
    await v.close();
  }
});

test('an agent restart starts a new chain; the old instance is refused and re-chains its samples', async () => {
  const v = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: 'gpu-2' }] });
  const target = { url: v.url, token: TOKEN, name: 'gpu-2' };
  const first = new TelemetryStream(target, { spawn: fakeSpawn, intervalMs: 20, pushIntervalMs: 60_000 });
  const second = new TelemetryStream(target, { spawn: fakeSpawn, intervalMs: 20, pushIntervalMs: 60_000 });
  try {
    first.start();
    second.start();
    await until(() => first.counts.samples >= 3 && second.counts.samples >= 3);
    await first.flush();
    await second.flush(); // seq 0 from the genesis head: a new chain
    assert.equal((await chainState(v.url, 'gpu-2')).chain, 1);
    const seen = first.counts.samples;
    await until(() => first.counts.samples > seen);
    // first's next batch (seq 1) does not continue the verifier's chain now.
    await assert.rejects(first.flush(), { code: 'AGENT_PUSH_FAILED' });
    assert.equal(first.counts.chainRestarts, 1);
    await first.flush();
    const state = await chainState(v.url, 'gpu-2');
    assert.equal(state.chain, 2);
    assert.equal(state.head, toBase64Url(first.head().head));
  } finally {
    await first.close();
    await second.close();
    await v.close();
  }
});

test('while the verifier is unreachable the queue stays bounded: old batches are dropped, the chain restarts', async () => {
  const s = new TelemetryStream(
    { url: 'http://127.0.0.1:9', token: TOKEN, name: 'gpu-3' },
    { spawn: fakeSpawn, intervalMs: 10, pushIntervalMs: 20, maxPendingBatches: 3, timeoutMs: 500 },
  );
  try {
    s.start();
    await until(() => s.counts.batchesDropped > 0);
    assert.ok(s.counts.chainRestarts >= 1);
    assert.ok(s.counts.pushFailures >= 1);
    assert.equal(s.counts.batchesPushed, 0);
  } finally {
    await s.close();
  }
});
