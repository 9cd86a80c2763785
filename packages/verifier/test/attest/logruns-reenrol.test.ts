import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ReceiptBody } from '@tmb/core';
import { call } from '../fixtures.ts';
import { type ScriptedHost, withVerifier } from './kernel-host.ts';

// Regression: an AK activation (each start of an agent with a TPM enrols and activates a new AK)
// kept the agent's quoted checkpoint but dropped its log run and ended runs (attest/enrol.ts).
// The checkpoint of run 1 was then read as run 0's: a receipt its run had covered failed
// INCLUSION_PROOF_INVALID, one its run had left behind read pending again, and the agent could
// start a run below what run 1 had covered, re-including a left-behind receipt. Now the runs go
// with the checkpoint. Through the HTTP API, on a real swtpm.

let w: Awaited<ReturnType<typeof withVerifier>>;
let host: ScriptedHost;

before(async () => {
  w = await withVerifier('tmb-reenrol-', 'host-reenrol', { rateLimit: false });
  host = w.host;
});

// withVerifier's close stops the swtpm and the verifier before it removes the folder.
after(() => w?.close());

type CheckJson = { name: string; status: string; code?: string; detail: string };

async function included(id: string): Promise<CheckJson> {
  const r = await call(`${w.v.url}/v1/receipts/${id}`, 'GET', undefined, null);
  return (r.json.verdict as { checks: CheckJson[] }).checks.find((c) => c.name === 'receipt.included')!;
}

const check = (r: { json: Record<string, unknown> }, name: string) =>
  (r.json.checks as CheckJson[]).find((c) => c.name === name)!;

/** Appends `n` receipts to the agent's log and pushes them, with a broken signature at `corrupt`. */
async function serve(n: number, corrupt?: number): Promise<ReceiptBody[]> {
  return (await host.push(n, corrupt === undefined ? {} : { corrupt })).bodies;
}

test('regression: a new AK activation keeps the log runs: verdicts unchanged, no run may start below what run 1 covered', async () => {
  const [covered] = await serve(2); // seq 0, 1
  assert.equal((await host.quote()).status, 200);
  const [, , left] = await serve(3, 1); // seq 2 accepted, 3 refused, 4 accepted
  assert.equal((await host.quote()).status, 422);
  const [current] = await serve(1); // seq 5
  assert.equal((await host.quote({ run: { run: 1, base: 5 } })).status, 200);
  const ids = [covered!, left!, current!].map((b) => b.id);
  const before = await Promise.all(ids.map(included));
  assert.deepEqual(
    before.map((c) => c.code ?? c.status),
    ['pass', 'RECEIPT_LOG_RUN_ENDED', 'pass'],
  );
  // The agent starts again: a new AK, same TPM.
  await host.activateAk();
  assert.deepEqual(await Promise.all(ids.map(included)), before);
  // Run 2 from seq 4 would re-include seq 4, which run 0 left behind (and seq 5 of run 1).
  const again = await host.quote({ run: { run: 2, base: 4 } });
  assert.equal(again.status, 422, JSON.stringify(again.json));
  assert.equal(check(again, 'checkpoint.consistent').code, 'LOG_RUN_BASE_INVALID');
  assert.equal((await included(left!.id)).code, 'RECEIPT_LOG_RUN_ENDED');
  // Run 1 goes on under the new AK, consistency-checked from its quoted size.
  const [next] = await serve(1); // seq 6
  const r = await host.quote({ run: { run: 1, base: 5 } });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.match(check(r, 'checkpoint.consistent').detail, /size 1 -> 2/);
  assert.equal((await included(next!.id)).status, 'pass');
  assert.deepEqual(
    (await Promise.all(ids.map(included))).map((c) => c.code ?? c.status),
    ['pass', 'RECEIPT_LOG_RUN_ENDED', 'pass'],
  );
});
