import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RunningVerifier } from '../../src/index.ts';
import { call } from '../fixtures.ts';
import { type ScriptedHost, withVerifier } from './kernel-host.ts';

// Issue 9: "A receipt never covered by a quote stays ok: true at L0 forever." Through the HTTP
// API, on a real swtpm: an agent with an activated AK whose quotes never come. The verifier's
// clock is injected, so the deadline is crossed exactly, with no sleeping.

let v: RunningVerifier;
let host: ScriptedHost;
let close: () => Promise<void>;
const clock = { now: Date.now() };

before(async () => {
  ({ v, host, close } = await withVerifier('tmb-deadline-', 'host-deadline', {
    now: () => clock.now,
    inclusionDeadlineMs: 10_000,
    rateLimit: false,
  }));
});

after(() => close?.());

type Verdict = {
  level: string;
  ok: boolean;
  checks: { name: string; status: string; code?: string; detail: string }[];
};

async function verdict(id: string): Promise<Verdict> {
  return (await call(`${v.url}/v1/receipts/${id}`, 'GET', undefined, null)).json.verdict as Verdict;
}

test('regression: a receipt of an agent with an AK that no quote covers is pending for 10 s, then fails RECEIPT_NOT_INCLUDED', async () => {
  const start = clock.now;
  const [id] = await host.serve(1); // received at `start`; no quote ever follows
  clock.now = start + 9_999;
  const pending = await verdict(id!);
  const included = pending.checks.find((c) => c.name === 'receipt.included');
  assert.equal(included?.status, 'asserted');
  assert.match(included?.detail ?? '', /^pending: /);
  clock.now = start + 10_000;
  const late = await verdict(id!);
  const failed = late.checks.find((c) => c.name === 'receipt.included');
  assert.equal(failed?.status, 'fail');
  assert.equal(failed?.code, 'RECEIPT_NOT_INCLUDED');
  assert.equal(late.ok, false);
  assert.equal(late.level, 'L0');
  // Issue 10: past the deadline nothing is pending any more; the host checks say what they are.
  for (const name of ['host.integrity', 'host.boot']) {
    assert.match(pending.checks.find((c) => c.name === name)?.detail ?? '', /^pending: /);
    const c = late.checks.find((x) => x.name === name);
    assert.equal(c?.status, 'skipped');
    assert.match(c?.detail ?? '', /^no quote covered this receipt/);
  }
  assert.ok(
    late.checks.every((c) => !c.detail.startsWith('pending:')),
    JSON.stringify(late.checks),
  );
});
