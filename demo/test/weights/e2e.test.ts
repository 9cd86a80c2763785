import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type AgentOptions, agentBuild, startAgent } from '@tmb/agent';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { startVerifier } from '@tmb/verifier';
import { tempDir } from '../../../test/fixtures/cleanup.ts';
import { demoRegistry, SAMPLE_ENGINE_EXE, startSampleServer, writeDemoWeights } from '../../src/index.ts';

interface Check {
  name: string;
  status: string;
  code?: string;
  detail: string;
}

/** Verifier with the demo registry, and an agent (with a TPM or not) in front of a sample server whose weights are `variant`'s. */
async function stack(t: TestContext, tpm: boolean) {
  // Everything stops, newest first, and only then the folder goes (test/fixtures/cleanup.ts): a
  // folder removed first raced the agents still writing into it (ENOTEMPTY).
  const { dir, closers: c } = await tempDir(t, 'tmb-weights-e2e-');
  const weights = await writeDemoWeights(dir);
  const token = randomBytes(24).toString('hex');
  const tpmRoots: string[] = [];
  const tpms: Record<string, AgentOptions['tpm']> = { honest: 'none', cheap: 'none' };
  if (tpm)
    for (const variant of ['honest', 'cheap']) {
      const state = await provisionSwtpm(join(dir, `swtpm-${variant}`));
      const s = await startSwtpm(state);
      c.add(() => s.stop(), `swtpm ${variant}`);
      tpms[variant] = s.tcti;
      tpmRoots.push(await readFile(state.rootCertPath, 'utf8'), await readFile(state.issuerCertPath, 'utf8'));
    }
  const verifier = await startVerifier({
    dbPath: join(dir, 'v.db'),
    tokens: [
      { token: `${token}-honest`, agent: 'gpu-honest' },
      { token: `${token}-cheap`, agent: 'gpu-cheap' },
    ],
    tpmRoots,
    registry: await demoRegistry(weights, [(await agentBuild()).digest]),
  });
  c.add(() => verifier.close(), 'verifier');
  const agents = {} as Record<'honest' | 'cheap', Awaited<ReturnType<typeof startAgent>>>;
  // Each agent's log events, timed: a failed assertion shows them (what its attester did).
  const events: Record<'honest' | 'cheap', string[]> = { honest: [], cheap: [] };
  for (const variant of ['honest', 'cheap'] as const) {
    const sample = await startSampleServer({ model: 'sample-7b', variant, tokenLatencyMs: 0 });
    c.add(() => sample.close(), `sample server ${variant}`);
    const agent = await startAgent(
      {
        upstream: sample.url,
        dataDir: join(dir, variant),
        name: `gpu-${variant}`,
        verifier: { url: verifier.url, token: `${token}-${variant}` },
        tpm: tpms[variant],
        appPcr: variant === 'honest' ? 15 : 14,
        checkpointIntervalMs: 100,
        checkpointMinIntervalMs: 50,
        measure: { weights: [weights[variant].path], engineExe: SAMPLE_ENGINE_EXE, watchMs: 100 },
      },
      (event, detail) => {
        const line = `${new Date().toISOString()} ${event} ${JSON.stringify(detail).slice(0, 300)}`;
        if (events[variant].push(line) > 200) events[variant].shift();
      },
    );
    c.add(() => agent.close(), `agent ${variant}`);
    agents[variant] = agent;
  }
  return { dir, verifier, agents, weights, events };
}

/** Sends a chat request through an agent; returns the verifier's verdict once `until` holds (or the last one). */
async function verdictOf(agentUrl: string, verifierUrl: string, until: (checks: Check[]) => boolean) {
  const res = await fetch(`${agentUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sample-7b', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  const id = res.headers.get('tmb-receipt-id');
  let verdict: { level: string; ok: boolean; checks: Check[] } | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${verifierUrl}/v1/receipts/${id}?wait=5000`);
    verdict = ((await r.json()) as { verdict: typeof verdict }).verdict;
    if (verdict && until(verdict.checks)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return verdict!;
}

const named = (checks: Check[], name: string) => checks.find((c) => c.name === name);

test('without a TPM: the honest backend\'s weights are only asserted, the cheap one\'s fail: "these weights are sample-1b"', async (t) => {
  const s = await stack(t, false);
  const honest = await verdictOf(s.agents.honest.url, s.verifier.url, () => true);
  assert.equal(named(honest.checks, 'weights.allowed')?.status, 'asserted', JSON.stringify(honest.checks));
  assert.equal(honest.level, 'L0');
  assert.equal(honest.ok, true);
  const cheap = await verdictOf(s.agents.cheap.url, s.verifier.url, () => true);
  const w = named(cheap.checks, 'weights.allowed');
  assert.equal(w?.code, 'WEIGHTS_NOT_ALLOWED');
  assert.match(w!.detail, /these weights are sample-1b/);
  assert.equal(cheap.ok, false);
});

test('with an swtpm per agent but no kernel IMA log: the quote holds, yet no answer reaches L1 and no weights are proven', async (t) => {
  // The agent's own measurement log is the provider's word: any root process can extend the PCR
  // it lives in. L1 and the host checks rest on the kernel's log (docs/deploy.md); the demo and
  // packages/cli/test/commands/demo*.test.ts show them with a simulated kernel.
  const s = await stack(t, true);
  const quoted = (c: Check[]) => named(c, 'receipt.included')?.status === 'pass';
  for (const variant of ['honest', 'cheap'] as const) {
    const v = await verdictOf(s.agents[variant].url, s.verifier.url, quoted);
    assert.equal(
      named(v.checks, 'receipt.included')?.status,
      'pass',
      `${JSON.stringify(v.checks)}\nagent ${variant}:\n${s.events[variant].join('\n')}`,
    );
    assert.equal(named(v.checks, 'quote.signature')?.status, 'pass');
    const integrity = named(v.checks, 'host.integrity');
    assert.deepEqual(
      [integrity?.status, integrity?.code],
      ['fail', 'KERNEL_LOG_ABSENT'],
      JSON.stringify(v.checks),
    );
    assert.notEqual(named(v.checks, 'weights.allowed')?.status, 'pass');
    assert.equal(v.level, 'L0');
  }
});
