// The verifier keeps the last MAX_ENDED_RUNS ended log runs of an agent in full and folds the
// older ones (attest/state.ts, docs/evidence.md "Log runs and recovery"): an agent whose every
// run ends no longer grows its state without bound. Receipts of kept runs are judged as before,
// those of folded runs fail receipt.included (RECEIPT_LOG_RUN_ENDED, "folded") and never pass.
// The state goes through the real codec (saveAttest/loadAttest on a SQLite store) and the real
// L1 checks (l1Checks) with checkpoints signed over the verifier's own trees.
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { test } from 'node:test';
import { type Check, encodeReceiptBody, type ReceiptBody, toBase64 } from '@tmb/core';
import { ed25519NoteSigner, formatRunLine, leafHash, MemoryTree, signCheckpoint } from '@tmb/core/log';
import { l1Checks } from '../../src/appraise/l1.ts';
import { createAttestService } from '../../src/attest/service.ts';
import {
  type AgentAttest,
  type EndedRun,
  loadAttest,
  MAX_ENDED_RUNS,
  saveAttest,
} from '../../src/attest/state.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { StoredReceipt } from '../../src/store/types.ts';
import { newKey, receiptBody } from '../fixtures.ts';

const AGENT = 'gpu-1';
const ORIGIN = `tmb/agent/${AGENT}`;
const key = newKey(AGENT);
const signer = ed25519NoteSigner(ORIGIN, key.raw, (t) => new Uint8Array(sign(null, t, key.privateKey)));

// Runs 0..ENDED-1 ended, each of two seqs [2r, 2r + 2): its last quoted checkpoint covered seq
// 2r, and seq 2r + 1 was left behind. The current run ENDED starts at seq 2 * ENDED; a quoted
// checkpoint of size 1 covers its first seq.
const K = 3;
const ENDED = MAX_ENDED_RUNS + K;
const CURRENT = { run: ENDED, base: 2 * ENDED };
const bodies: ReceiptBody[] = Array.from({ length: 2 * ENDED + 1 }, (_, seq) => receiptBody(key, { seq }));
const bytes = bodies.map((b) => encodeReceiptBody(b));

function stored(seq: number): StoredReceipt {
  const b = bodies[seq]!;
  return {
    id: b.id,
    requestId: b.request.id,
    agent: AGENT,
    keyId: b.key,
    body: bytes[seq]!,
    sig: new Uint8Array(64),
    receivedAt: 0,
    seq,
  };
}

/** The quoted checkpoint of size 1 of run `run` from seq `base`, as the agent signs it. */
async function checkpointOf(run: number, base: number): Promise<NonNullable<AgentAttest['checkpoint']>> {
  const root = new MemoryTree([leafHash(bytes[base]!)]).root(1);
  const extensions = run > 0 ? [formatRunLine({ run, base })] : [];
  const note = await signCheckpoint({ origin: ORIGIN, size: 1, root, extensions }, [signer]);
  return { note, size: 1, root: toBase64(root), keyId: key.keyId };
}

const QUOTE = { attest: 'AAAA', signature: 'AAAA', pcrs: 'AAAA', nonce: '00'.repeat(32) };

async function endedRuns(): Promise<EndedRun[]> {
  const out: EndedRun[] = [];
  for (let r = 0; r < ENDED; r++)
    out.push({
      run: r,
      base: 2 * r,
      end: 2 * r + 2,
      covered: 2 * r + 1,
      reason: `receipt seq ${2 * r + 1} refused: RECEIPT_SIGNATURE_INVALID`,
      endedAt: r,
      checkpoint: await checkpointOf(r, 2 * r),
      quote: QUOTE,
    });
  return out;
}

async function agentState(): Promise<AgentAttest> {
  const pass = (name: string): Check => ({ name, status: 'pass', detail: 'ok' });
  return {
    ekPublic: '',
    ekCheck: pass('host.ek_certificate'),
    akPublic: '',
    akName: '000b',
    activatedAt: 0,
    pcr: 15,
    clock: null,
    ima: null,
    bound: [],
    checkpointKeys: [],
    checkpoint: await checkpointOf(CURRENT.run, CURRENT.base),
    checks: ['quote.signature', 'checkpoint.signature', 'checkpoint.consistent'].map(pass),
    quote: QUOTE,
    acceptedAt: 0,
    run: CURRENT,
    endedRuns: await endedRuns(),
  };
}

async function setup(t: { after: (f: () => unknown) => void }) {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  await store.putReceipts(bodies.map((_, seq) => stored(seq)));
  await store.addKey({ agent: AGENT, keyId: key.keyId, key: key.raw, enrolledAt: 0 });
  const attest = createAttestService(store, {
    roots: [],
    nonceTtlMs: 1000,
    now: () => bodies[0]!.time.end / 1000,
    inclusionDeadlineMs: 10_000,
  });
  const included = async (seq: number): Promise<Check> => {
    const r = await l1Checks(store, attest, stored(seq), bodies[seq]!);
    return r.checks.find((c) => c.name === 'receipt.included')!;
  };
  return { store, included };
}

/** The agent's cold row as stored, parsed. */
async function coldRow(store: SqliteStore): Promise<Partial<AgentAttest>> {
  const [text] = await store.getAttestRows([`cold ${AGENT}`]);
  return JSON.parse(text!) as Partial<AgentAttest>;
}

test('a state with MAX_ENDED_RUNS + k ended runs is saved with the last MAX_ENDED_RUNS in full and the older folded', async (t) => {
  const { store } = await setup(t);
  await saveAttest(store, AGENT, await agentState());
  const cold = await coldRow(store);
  assert.equal(cold.endedRuns?.length, MAX_ENDED_RUNS);
  assert.equal(cold.endedRuns?.[0]?.run, K);
  assert.deepEqual(cold.foldedRuns, { runs: K, first: 0, last: K - 1, base: 0, end: 2 * K });
  const loaded = await loadAttest(store, AGENT);
  assert.deepEqual(loaded?.endedRuns, cold.endedRuns);
  assert.deepEqual(loaded?.foldedRuns, cold.foldedRuns);
});

test('receipts of kept runs are judged as before: covered ones pass against their run, left-behind ones fail with its reason', async (t) => {
  const { store, included } = await setup(t);
  await saveAttest(store, AGENT, await agentState());
  for (const r of [K, ENDED - 1]) {
    const covered = await included(2 * r);
    assert.equal(covered.status, 'pass', covered.detail);
    assert.match(
      covered.detail,
      new RegExp(`leaf 0 of the quoted checkpoint of size 1 \\(log run ${r}, from seq ${2 * r}\\)`),
    );
    const left = await included(2 * r + 1);
    assert.equal(left.status, 'fail');
    assert.equal(left.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(left.detail, new RegExp(`log run ${r} \\(seqs ${2 * r} to ${2 * r + 1}\\)`));
    assert.match(left.detail, new RegExp(`receipt seq ${2 * r + 1} refused`));
  }
});

test('receipts of folded runs fail RECEIPT_LOG_RUN_ENDED saying so, covered or not; the current run passes', async (t) => {
  const { store, included } = await setup(t);
  await saveAttest(store, AGENT, await agentState());
  for (let seq = 0; seq < 2 * K; seq++) {
    const c = await included(seq);
    assert.equal(c.status, 'fail', `seq ${seq}: ${c.detail}`);
    assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(c.detail, new RegExp(`runs 0 to ${K - 1}, seqs 0 to ${2 * K - 1}\\), folded`));
  }
  const cur = await included(CURRENT.base);
  assert.equal(cur.status, 'pass', cur.detail);
  assert.match(cur.detail, new RegExp(`log run ${CURRENT.run}, from seq ${CURRENT.base}`));
});

test('an old state with more ended runs than the cap (written before it) loads folded and is stored folded on its next save', async (t) => {
  const { store, included } = await setup(t);
  const { endedRuns, ...state } = await agentState();
  // The two rows as a verifier before the cap wrote them: every ended run in the cold row.
  const hot: Record<string, unknown> = { ...state, cold: 1 };
  for (const k of ['ekPublic', 'ekCheck', 'akPublic', 'akName', 'activatedAt', 'pcr', 'checkpointKeys'])
    delete hot[k];
  const cold = {
    ekPublic: state.ekPublic,
    ekCheck: state.ekCheck,
    akPublic: state.akPublic,
    akName: state.akName,
    activatedAt: state.activatedAt,
    pcr: state.pcr,
    checkpointKeys: state.checkpointKeys,
    endedRuns,
  };
  await store.putAttestRows([
    [AGENT, JSON.stringify(hot)],
    [`cold ${AGENT}`, JSON.stringify(cold)],
  ]);
  const loaded = await loadAttest(store, AGENT);
  assert.equal(loaded?.endedRuns?.length, MAX_ENDED_RUNS);
  assert.equal(loaded?.foldedRuns?.runs, K);
  assert.equal((await included(0)).code, 'RECEIPT_LOG_RUN_ENDED');
  assert.equal((await included(2 * K)).status, 'pass');
  // A quote that changes only the hot members still rewrites the cold row, folded.
  assert.equal((await coldRow(store)).endedRuns?.length, ENDED);
  await saveAttest(store, AGENT, { ...loaded!, acceptedAt: 1 }, loaded);
  const after = await coldRow(store);
  assert.equal(after.endedRuns?.length, MAX_ENDED_RUNS);
  assert.deepEqual(after.foldedRuns, { runs: K, first: 0, last: K - 1, base: 0, end: 2 * K });
  // Once folded, a save that changes no cold member leaves the cold row as it is.
  const again = await loadAttest(store, AGENT);
  const before = (await store.getAttestRows([`cold ${AGENT}`]))[0];
  await saveAttest(store, AGENT, { ...again!, acceptedAt: 2 }, again);
  assert.equal((await store.getAttestRows([`cold ${AGENT}`]))[0], before);
});
