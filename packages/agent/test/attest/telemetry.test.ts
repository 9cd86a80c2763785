import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent } from '@tmb/agent';
import { BatchChain, GENESIS_HEAD, type SpawnFn } from '@tmb/agent/telemetry';
import { provisionSwtpm, type Swtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { toBase64Url } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { fakeUpstream } from '../fixtures.ts';
import { FakeSecurityfs, TestKernel } from '../kernel/fixtures.ts';

// On a real swtpm: the agent's quoted checkpoints carry its telemetry chain head, the verifier
// checks it against the batches it received (telemetry.chain), and a checkpoint whose line does
// not match the received chain is refused and named.

const TOKEN = 'attest-telemetry-token-0123456789';
const FAKE = new URL('../telemetry/fake-nvidia-smi.ts', import.meta.url).pathname;
const fakeSpawn: SpawnFn = (_command, args) =>
  spawn(process.execPath, [FAKE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
let dir: string;
let tpm: Swtpm;
let verifier: RunningVerifier;
let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
let securityfs: FakeSecurityfs;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-attest-telemetry-'));
  const state = await provisionSwtpm(join(dir, 'swtpm'));
  tpm = await startSwtpm(state);
  securityfs = await new FakeSecurityfs(join(dir, 'securityfs')).create(new Uint8Array(0));
  const kernel = new TestKernel(
    securityfs,
    new TpmDriver({ tcti: tpm.tcti, workDir: join(dir, 'kernel-tpm') }),
  );
  await kernel.firmware();
  await kernel.boot();
  const roots = [await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8')];
  verifier = await startVerifier({
    dbPath: ':memory:',
    tokens: [{ token: TOKEN, agent: 'e2e-telemetry' }],
    tpmRoots: roots,
  });
  upstream = await fakeUpstream((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"choices":[{"message":{"content":"hi"}}]}');
  });
});

after(async () => {
  await upstream?.close();
  await verifier?.close();
  await tpm?.stop();
  await rm(dir, { recursive: true, force: true });
});

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
  assert.equal((await post('/v1/telemetry', { agent, batches })).status, 200);
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
  const agent = await startAgent(
    {
      upstream: upstream.url,
      dataDir: join(dir, name),
      name,
      verifier: { url: verifier.url, token: TOKEN },
      tpm: tpm.tcti,
      appPcr: 12,
      kernel: { securityfs: securityfs.dir },
      checkpointIntervalMs: 200,
      checkpointMinIntervalMs: 100,
      telemetry: { spawn: fakeSpawn, intervalMs: 20, pushIntervalMs: 50 },
    },
    () => {},
  );
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
