import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { BatchChain, GENESIS_HEAD, type SpawnFn } from '@tmb/agent/telemetry';
import { toBase64Url } from '@tmb/core';
import type { RunningVerifier } from '@tmb/verifier';
import { type AttestedHost, startAttestedHost } from '../fixtures/host.ts';

// On a real swtpm: the agent's quoted checkpoints carry its telemetry chain head, the verifier
// checks it against the batches it received (telemetry.chain), and a checkpoint whose line does
// not match the received chain is refused and named.

const TOKEN = 'attest-telemetry-token-0123456789';
const FAKE = new URL('../telemetry/fake-nvidia-smi.ts', import.meta.url).pathname;
const fakeSpawn: SpawnFn = (_command, args) =>
  spawn(process.execPath, [FAKE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
let host: AttestedHost;
let verifier: RunningVerifier;

before(async () => {
  host = await startAttestedHost({
    prefix: 'tmb-attest-telemetry-',
    agents: ['e2e-telemetry'],
    tokenOf: () => TOKEN,
  });
  ({ verifier } = host);
});

after(() => host?.close());

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${verifier.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

type Checks = { name: string; status: string; code?: string }[];
const failed = (json: Record<string, unknown>) =>
  ((json.checks ?? []) as Checks).filter((c) => c.status === 'fail').map((c) => `${c.name}:${c.code}`);

/** Posts a chain of `n` batches from the genesis head under the agent's name: a new chain there. */
async function forgeChain(agent: string, n: number): Promise<void> {
  const chain = new BatchChain();
  const batches = [];
  let prev: Uint8Array = GENESIS_HEAD;
  for (let i = 0; i < n; i++) {
    chain.addGpu({ t: 1_000 + i, gpu: 0, powerW: 99 });
    const c = chain.cut()!;
    batches.push({
      seq: c.batch.seq,
      prevHead: toBase64Url(prev),
      head: toBase64Url(c.head),
      gpu: c.batch.gpu,
    });
    prev = c.head;
  }
  // At most 100 batches a push (the verifier's MAX_PUSH_BATCHES): a slow run cuts more than that.
  for (let i = 0; i < batches.length || i === 0; i += 100) {
    assert.equal((await post('/v1/telemetry', { agent, batches: batches.slice(i, i + 100) })).status, 200);
  }
}

const until = async (cond: () => boolean, what: string) => {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('quoted checkpoints carry the telemetry head; a line that does not match the received chain is refused', async () => {
  const name = 'e2e-telemetry';
  const agent = await host.agent(name, 12, {
    telemetry: { spawn: fakeSpawn, intervalMs: 20, pushIntervalMs: 50 },
  });
  const realFetch = globalThis.fetch;
  const answers: Checks[] = [];
  let hold = false;
  let held: Record<string, unknown> | undefined;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (!String(input).endsWith('/v1/attest/evidence')) return realFetch(input, init);
    if (hold && held === undefined) {
      held = JSON.parse(String(init?.body)) as Record<string, unknown>;
      return new Response('{"ok":true,"checks":[]}', { status: 200 });
    }
    const res = await realFetch(input, init);
    answers.push(((await res.clone().json()) as { checks: Checks }).checks);
    return res;
  }) as typeof fetch;
  try {
    await until(() => (agent.telemetry?.head().count ?? 0) >= 3, 'no telemetry batches');
    const req = async () =>
      (await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{}' })).text();
    await req();
    await until(() => (agent.attester.quoted?.size ?? 0) >= 1, 'no quoted checkpoint');
    // The accepted evidence named telemetry.chain, passed; the quoted note carries the line.
    const accepted = answers.find((a) => a.every((c) => c.status === 'pass') && a.length > 0);
    assert.equal(
      accepted?.find((c) => c.name === 'telemetry.chain')?.status,
      'pass',
      JSON.stringify(answers),
    );
    const quoted = (await (await fetch(`${verifier.url}/v1/agents/${name}/checkpoint`)).json()) as {
      checkpoint: string;
    };
    assert.match(quoted.checkpoint, /^tmb\/agent\/e2e-telemetry\n\d+\n\S+\ntmb-telemetry \d+ \S+\n\n/);
    // Hold the next evidence back, then make the verifier's chain disagree with its line.
    hold = true;
    await req();
    await until(() => held !== undefined, 'no evidence captured');
  } finally {
    globalThis.fetch = realFetch;
    await agent.close();
  }
  const line = /\ntmb-telemetry (\d+) /.exec(held!.checkpoint as string);
  assert.ok(line, 'the held checkpoint names the telemetry head');
  const count = Number(line[1]);
  // A chain (from the genesis head) one batch short: the verifier has not received that batch.
  await forgeChain(name, count - 1);
  const short = await post('/v1/attest/evidence', held);
  assert.equal(short.status, 422);
  assert.deepEqual(failed(short.json), ['telemetry.chain:TELEMETRY_HEAD_UNKNOWN']);
  // A chain of the same length with other samples: the checkpoint and the stream disagree.
  await forgeChain(name, count);
  const forked = await post('/v1/attest/evidence', held);
  assert.equal(forked.status, 422);
  assert.deepEqual(failed(forked.json), [
    'quote.nonce:NONCE_REUSED',
    'telemetry.chain:TELEMETRY_HEAD_MISMATCH',
  ]);
});
