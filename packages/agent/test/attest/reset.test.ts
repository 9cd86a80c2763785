import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningAgent } from '@tmb/agent';
import { L1_CHECKS } from '@tmb/core';
import type { RunningVerifier } from '@tmb/verifier';
import { type AttestedHost, startAttestedHost } from '../fixtures/host.ts';

// Notes 10 and 12, "swtpm restart = a TPM reset": a TPM reset under a running agent left it below
// L1 for good (quotes refused QUOTE_CLOCK_REGRESSED, then CERTIFY_RESET_COUNT_MISMATCH). Now the
// agent sees the new resetCount in its own quote, starts its measurement log and a receipt log
// run over and certifies a new checkpoint key; the verifier takes the quote as a new boot. A real
// swtpm on a Unix socket (the same path after the restart), and the test kernel booted again on
// the new TPM, as the host's kernel would be: the shared attested host of ckey/e2e, restartable
// (test/fixtures/host.ts).

const AGENT = 'reset-agent';
const TOKEN = 'reset-e2e-token-0123456789abcdef';
let host: AttestedHost;
let verifier: RunningVerifier;

before(async () => {
  host = await startAttestedHost({
    prefix: 'tmb-attest-reset-',
    agents: [AGENT],
    tokenOf: () => TOKEN,
    restartable: true,
  });
  ({ verifier } = host);
});

after(() => host?.close());

type Check = { name: string; status: string; code?: string; detail: string };
type Verdict = { level: string; checks: Check[] };

async function request(agent: RunningAgent): Promise<string> {
  const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
  await res.arrayBuffer();
  const id = res.headers.get('tmb-receipt-id');
  assert.ok(id);
  return id;
}

async function verdictOf(id: string): Promise<Verdict> {
  const res = await fetch(`${verifier.url}/v1/receipts/${id}?wait=5000`);
  assert.equal(res.status, 200, id);
  return ((await res.json()) as { verdict: Verdict }).verdict;
}

const notL1 = (v: Verdict) =>
  v.checks.filter((c) => (L1_CHECKS as readonly string[]).includes(c.name) && c.status !== 'pass');

/** Waits (bounded) until a quote the verifier accepted covers receipt `id`, or a later run began. */
async function covered(agent: RunningAgent, id: string, deadline: number): Promise<void> {
  const seq = agent.store.byId(id)!.seq;
  for (;;) {
    const q = agent.attester.quoted;
    if (q !== undefined && (q.base + q.size > seq || q.base > seq)) return;
    if (Date.now() > deadline) return; // the caller reports what the verdict says
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends requests until one reaches L1 (bounded), each judged once a quote covered it. */
async function untilL1(agent: RunningAgent, what: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const id = await request(agent);
    await covered(agent, id, deadline);
    const v = await verdictOf(id);
    if (v.level === 'L1') return id;
    assert.ok(Date.now() < deadline, `${what}: no receipt at L1; last ${JSON.stringify(notL1(v))}`);
  }
}

test('a TPM reset under a running agent: a new boot, a new run and a new checkpoint key bring it back to L1; earlier receipts keep their verdicts', async () => {
  const events: { event: string; detail: Record<string, unknown> }[] = [];
  const agent = await host.agent(AGENT, 12, {}, (event, detail) => events.push({ event, detail }));
  try {
    const before = await untilL1(agent, 'before the reset');
    const key = (await verdictOf(before)).checks.find((c) => c.name === 'key.bound')!.detail;
    const runsBefore = agent.log.runs().length;
    // The reset: swtpm killed (a crash: no orderly shutdown) and started again on the same state
    // (resetCount + 1, every PCR back at its reset value), then the host's kernel measures its
    // boot again (test/fixtures/host.ts).
    await host.resetTpm();
    const afterId = await untilL1(agent, 'after the reset');
    const v = await verdictOf(afterId);
    assert.notEqual(
      v.checks.find((c) => c.name === 'key.bound')!.detail,
      key,
      'a key certified in the new boot',
    );
    assert.ok(
      events.some((e) => e.event === 'tpm_reset'),
      JSON.stringify(events.map((e) => e.event)),
    );
    const runs = agent.log.runs();
    assert.equal(runs.length, runsBefore + 1, 'one new run for the reset');
    assert.match(runs.at(-1)!.reason, /^TPM reset \(resetCount \d+ to \d+\)/);
    // The receipt of the old boot keeps its verdict: its quote was of that boot.
    const old = await verdictOf(before);
    assert.equal(old.level, 'L1', JSON.stringify(notL1(old)));
  } finally {
    await agent.close();
  }
});
