import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { L1_CHECKS } from '@tmb/core';
import { type RunningVerifier, SqliteStore, startVerifier } from '../../src/index.ts';
import { agentTokens, call, receiptBody, signBody, tokenFor } from '../fixtures.ts';
import { ScriptedHost } from './kernel-host.ts';

// Issue 9, "Tokens and agent identity", on real swtpms: two agents with two tokens cannot act
// for each other and A's receipts pass L1 whatever B does; an AK on another TPM replaces an agent's only
// after the operator allowed it, once; an AK on the same TPM (a restart) needs nothing.

let dir: string;
let v: RunningVerifier;
let a: ScriptedHost;
let b: ScriptedHost;
/** Another TPM (another EK) claiming agent A's name. */
let c: ScriptedHost;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-identity-'));
  a = new ScriptedHost(join(dir, 'a'), '', 'agent-a');
  b = new ScriptedHost(join(dir, 'b'), '', 'agent-b');
  c = new ScriptedHost(join(dir, 'c'), '', 'agent-a');
  const roots = [...(await a.provision()), ...(await b.provision()), ...(await c.provision())];
  v = await startVerifier({
    dbPath: join(dir, 'v.db'),
    tokens: agentTokens('agent-a', 'agent-b'),
    tpmRoots: roots,
    rateLimit: false,
  });
  for (const h of [a, b, c]) h.url = v.url;
  await a.enrol();
  await b.enrol();
});

after(async () => {
  for (const h of [a, b, c]) await h?.close();
  await v?.close();
  await rm(dir, { recursive: true, force: true });
});

type Verdict = { level: string; ok: boolean; checks: { name: string; status: string; code?: string }[] };
const verdict = async (id: string) =>
  (await call(`${v.url}/v1/receipts/${id}`, 'GET', undefined, null)).json.verdict as Verdict;

test("agent B's token cannot act for agent A, and A's receipts pass their L1 log and quote checks whatever B does", async () => {
  const asB = tokenFor('agent-b');
  // B tries A's AK activation, nonce and receipt positions with its own token: 403 each.
  for (const [path, body] of [
    ['/v1/attest/activate', { agent: 'agent-a', secret: 'AAAA' }],
    ['/v1/attest/nonce', { agent: 'agent-a' }],
    [
      '/v1/receipts',
      { agent: 'agent-a', receipts: [signBody(b.key, receiptBody(b.key, { agent: 'agent-a', seq: 0 }))] },
    ],
  ] as const) {
    const r = await call(`${v.url}${path}`, 'POST', body, asB);
    assert.equal(r.status, 403, path);
  }
  // B serves and quotes its own log meanwhile.
  await b.serve(3);
  const qb = await b.quote();
  assert.equal(qb.status, 200, JSON.stringify(qb.json));
  const ids = await a.serve(2);
  const q = await a.quote();
  assert.equal(q.status, 200, JSON.stringify(q.json));
  for (const id of ids) {
    const r = await verdict(id);
    // The checks of A's log, keys and quotes pass: B took none of A's positions and broke none
    // of its quotes. (host.boot has its own tests: the scripted host sends no UEFI log.)
    const notPass = r.checks.filter(
      (x) =>
        (L1_CHECKS as readonly string[]).includes(x.name) && x.name !== 'host.boot' && x.status !== 'pass',
    );
    assert.deepEqual(notPass, []);
    assert.equal(r.checks.find((x) => x.name === 'receipt.included')?.status, 'pass');
  }
});

test('regression: an AK on another TPM does not replace the agent AK without the operator; allow-ak lets exactly one through', async () => {
  await assert.rejects(c.enrol(), /AK_REPLACEMENT_REFUSED/);
  // The operator's command writes to the verifier's database (tmb verifier allow-ak).
  const store = new SqliteStore(join(dir, 'v.db'));
  await store.allowAkReplacement('agent-a', Date.now());
  await store.close();
  await c.enrol();
  // Used up: moving the name back to A's TPM needs the operator again.
  await assert.rejects(a.enrol(), /AK_REPLACEMENT_REFUSED/);
});

test('a new AK on the same TPM (an agent restart) replaces the agent AK with no operator step', async () => {
  await c.enrol();
  await c.enrol();
});
