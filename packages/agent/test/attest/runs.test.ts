import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningAgent } from '@tmb/agent';
import { L1_CHECKS } from '@tmb/core';
import type { RunningVerifier } from '@tmb/verifier';
import { type AttestedHost, startAttestedHost } from '../fixtures/host.ts';

// Issue 10, "no stuck states", end to end: agent + verifier + swtpm. One receipt the verifier
// refuses used to stop the verifier's tree at its seq for good: nothing after it reached L1 again,
// across restarts. Now the verifier answers LOG_RUN_BROKEN, the agent starts run 1 past it, new
// receipts reach L1 again, and the receipts left behind say why.

const AGENTS = { refused: 'runs-refused', lost: 'runs-lost' } as const;
const tokenOf = (agent: string) => `runs-e2e-token-0123456789-${agent}`;
let host: AttestedHost;
let verifier: RunningVerifier;

before(async () => {
  host = await startAttestedHost({ prefix: 'tmb-attest-runs-', agents: Object.values(AGENTS), tokenOf });
  ({ verifier } = host);
});

after(() => host?.close());

type Events = { event: string; detail: Record<string, unknown> }[];

function agentOn(name: string, appPcr: number, events: Events): Promise<RunningAgent> {
  // Pushes wait 1 s, so the test alters a stored receipt before the verifier sees it.
  return host.agent(name, appPcr, { pushIntervalMs: 1000 }, (event, detail) =>
    events.push({ event, detail }),
  );
}

async function request(agent: RunningAgent): Promise<{ id: string; seq: number }> {
  const res = await fetch(`${agent.url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' });
  await res.arrayBuffer();
  const id = res.headers.get('tmb-receipt-id');
  assert.ok(id);
  return { id, seq: agent.store.byId(id)!.seq };
}

/** Waits (bounded) for a quoted checkpoint of `run` covering `size` leaves. */
async function coveredBy(agent: RunningAgent, run: number, size: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const q = agent.attester.quoted;
    if (q !== undefined && (q.run > run || (q.run === run && q.size >= size))) return;
    assert.ok(Date.now() < deadline, `no quoted checkpoint of run ${run} with size >= ${size}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Check = { name: string; status: string; code?: string; detail: string };

async function verdictOf(id: string): Promise<{ level: string; checks: Check[] }> {
  const res = await fetch(`${verifier.url}/v1/receipts/${id}?wait=5000`);
  assert.equal(res.status, 200, id);
  return ((await res.json()) as { verdict: { level: string; checks: Check[] } }).verdict;
}

function assertL1(v: { level: string; checks: Check[] }, what: string): void {
  const notPass = v.checks.filter(
    (c) => (L1_CHECKS as readonly string[]).includes(c.name) && c.status !== 'pass',
  );
  assert.deepEqual(notPass, [], what);
  assert.equal(v.level, 'L1', what);
}

test('a receipt the verifier refuses: the agent starts run 1, new receipts reach L1 again, the left-behind one says why; across a restart', async () => {
  const events: Events = [];
  let agent = await agentOn(AGENTS.refused, 12, events);
  try {
    const first = await request(agent);
    await coveredBy(agent, 0, 1);
    assertL1(await verdictOf(first.id), 'before the refusal');
    // A receipt whose stored signature no longer holds (as a torn write could leave it): the
    // verifier refuses it, and the one after it in run 0 can never be included.
    const bad = await request(agent);
    agent.store.db.prepare('UPDATE receipts SET sig = zeroblob(64) WHERE seq = ?').run(bad.seq);
    const left = await request(agent);
    assert.deepEqual([bad.seq, left.seq], [1, 2]);
    // The agent starts run 1 by itself: the rejection, then LOG_RUN_BROKEN (one run, not two).
    const deadline = Date.now() + 30_000;
    while (agent.log.run.run < 1) {
      assert.ok(
        Date.now() < deadline,
        `no run 1: ${JSON.stringify(events.filter((e) => e.event !== 'quote'))}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(agent.log.run, { run: 1, base: 3 });
    const after = await request(agent);
    assert.equal(after.seq, 3);
    await coveredBy(agent, 1, 1);
    assertL1(await verdictOf(after.id), 'run 1');
    assert.match(agent.attester.quoted!.note, /\ntmb-run 1 3\n/);
    // What run 0's accepted quote covered stays L1; the receipt left behind fails, naming why.
    assertL1(await verdictOf(first.id), 'run 0, covered');
    const ended = (await verdictOf(left.id)).checks.find((c) => c.name === 'receipt.included')!;
    assert.equal(ended.status, 'fail');
    assert.equal(ended.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(ended.detail, /run 0/);
    assert.match(ended.detail, /seq 1/);
    assert.equal(
      (await fetch(`${verifier.url}/v1/receipts/${bad.id}`)).status,
      404,
      'the refused one is not held',
    );
    assert.equal(agent.log.runs().length, 2);
    assert.match(
      agent.log.runs()[1]!.reason,
      /receipt seq 1 rejected by the verifier: RECEIPT_SIGNATURE_INVALID/,
    );
  } finally {
    await agent.close();
  }
  // Restarted: run 1 goes on, and the next receipt reaches L1.
  agent = await agentOn(AGENTS.refused, 12, events);
  try {
    assert.deepEqual(agent.log.run, { run: 1, base: 3 });
    const next = await request(agent);
    assert.equal(next.seq, 4);
    await coveredBy(agent, 1, 2);
    assertL1(await verdictOf(next.id), 'after the restart');
    assert.equal(agent.log.runs().length, 2);
    assert.ok(events.some((e) => e.event === 'log_run_started' && e.detail.run === 1));
  } finally {
    await agent.close();
  }
});

test('a receipt the verifier never received: its evidence answer says LOG_RUN_BROKEN and the agent starts run 1 there', async () => {
  const events: Events = [];
  const agent = await agentOn(AGENTS.lost, 13, events);
  try {
    const first = await request(agent);
    await coveredBy(agent, 0, 1);
    // Marked pushed but never sent (as a store could be left): the verifier lacks seq 1.
    const lost = await request(agent);
    agent.store.db.prepare('UPDATE receipts SET pushed = 1 WHERE seq = ?').run(lost.seq);
    const left = await request(agent);
    const deadline = Date.now() + 30_000;
    while (agent.log.run.run < 1) {
      assert.ok(
        Date.now() < deadline,
        `no run 1: ${JSON.stringify(events.filter((e) => e.event !== 'quote'))}`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
    const run = agent.log.runs()[1]!;
    assert.deepEqual([run.run, run.base], [1, 3]);
    assert.match(run.reason, /^the verifier cannot follow run 0 from seq 1: /);
    const after = await request(agent);
    await coveredBy(agent, 1, 1);
    assertL1(await verdictOf(after.id), 'run 1');
    assertL1(await verdictOf(first.id), 'run 0, covered');
    const ended = (await verdictOf(left.id)).checks.find((c) => c.name === 'receipt.included')!;
    assert.equal(ended.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(ended.detail, /seq 1/);
    assert.equal(agent.log.runs().length, 2, 'one break, one new run');
  } finally {
    await agent.close();
  }
});
