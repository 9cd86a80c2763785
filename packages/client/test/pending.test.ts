import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createVerifiedFetch } from '@tmb/client';
import { L1_CHECKS } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { AGENT, type FakeAgent, startFakeAgent, TOKEN } from './fake-agent.ts';

// Issue 10 (soak): a receipt served before the agent's AK was activated read L0 with no L1
// check, so a client's waitForQuoteMs did not wait for it. Now the verifier's L1 checks are
// pending until the inclusion deadline, and the client asks again until the answer is final.
// The verifier's clock is injected: the deadline passes between the client's first and second
// read, with no sleeping on the test's side.

const clock = { now: Date.now() };
let verifier: RunningVerifier;
let agent: FakeAgent;
let key: JsonWebKey;
before(async () => {
  verifier = await startVerifier({
    dbPath: ':memory:',
    tokens: [{ token: TOKEN, agent: AGENT }],
    now: () => clock.now,
    inclusionDeadlineMs: 10_000,
  });
  agent = await startFakeAgent(verifier.url);
  key = (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey;
});
after(async () => {
  await agent.close();
  await verifier.close();
});

const l1 = (checks: readonly { name: string; status: string; detail: string }[]) =>
  checks.filter((c) => (L1_CHECKS as readonly string[]).includes(c.name));

test('regression: waitForQuoteMs waits while the agent has no activated AK, and stops once the verdict is final', async () => {
  const reads: string[][] = [];
  // The client's own fetch: after its first read of the receipt, the verifier's clock passes the
  // inclusion deadline (no AK was ever activated: the agent has no TPM).
  const counting: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = String(input instanceof Request ? input.url : input);
    if (url.startsWith(`${verifier.url}/v1/receipts/`)) {
      const json = (await res.clone().json()) as {
        verdict: { checks: { name: string; status: string; detail: string }[] };
      };
      reads.push(l1(json.verdict.checks).map((c) => c.status));
      clock.now += 10_000;
    }
    return res;
  };
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    verifierKey: key,
    waitMs: 5000,
    waitForQuoteMs: 60_000,
    fetch: counting,
  });
  const res = await tmb.fetch(`${agent.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'sample-7b', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  const result = await tmb.verify(res);
  // First read: pending (the client waited); second: final, so it stopped asking.
  assert.deepEqual(reads, [L1_CHECKS.map(() => 'asserted'), L1_CHECKS.map(() => 'skipped')]);
  assert.equal(result.ok, true);
  assert.equal(result.level, 'L0');
  const mine = l1(result.checks);
  assert.deepEqual(
    mine.map((c) => c.name),
    [...L1_CHECKS],
  );
  for (const c of mine) {
    assert.equal(c.status, 'skipped');
    assert.match(c.detail, /no TPM attestation for this receipt/);
  }
});
