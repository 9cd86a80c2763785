// The verifier keeps the last MAX_ENDED_RUNS ended log runs of an agent in full and folds the
// older ones (attest/state.ts, docs/evidence.md "Log runs and recovery"): an agent whose every
// run ends no longer grows its state without bound. Receipts of kept runs are judged as before,
// those of folded runs are judged from the bundle archive's quotes of their run (attest/runs.ts
// placeFolded): the verdict they had before folding while the archive holds those quotes, a
// failure (RECEIPT_LOG_RUN_ENDED, "folded") saying why once it does not, and never a pass a
// kept run would not give. The state goes through the real codec (saveAttest/loadAttest) and
// the real L1 checks (l1Checks) with checkpoints signed over the verifier's own trees, on SQLite
// and on PostgreSQL (whose archive query is its own).
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { after, before, test } from 'node:test';
import { type Check, encodeReceiptBody, type ReceiptBody, toBase64, toBase64Url } from '@tmb/core';
import { ed25519NoteSigner, formatRunLine, leafHash, MemoryTree, signCheckpoint } from '@tmb/core/log';
import { type PgServer, pgSkip, startPg } from '../../../../test/fixtures/pg.ts';
import { l1Checks } from '../../src/appraise/l1.ts';
import { createAttestService } from '../../src/attest/service.ts';
import {
  type AgentAttest,
  type EndedRun,
  loadAttest,
  MAX_ENDED_RUNS,
  saveAttest,
} from '../../src/attest/state.ts';
import { PgStore } from '../../src/store/pg.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store, StoredReceipt } from '../../src/store/types.ts';
import { newKey, receiptBody } from '../fixtures.ts';
import { archiveQuote, attestState, passed, QUOTE } from './state-fixture.ts';

const AGENT = 'gpu-1';
const ORIGIN = `tmb/agent/${AGENT}`;
const key = newKey(AGENT);
const signer = ed25519NoteSigner(ORIGIN, key.raw, (t) => new Uint8Array(sign(null, t, key.privateKey)));

// Runs 0..ENDED-1 ended, each of two seqs [2r, 2r + 2): its last quoted checkpoint covered seq
// 2r, and seq 2r + 1 was left behind. The current run ENDED starts at seq 2 * ENDED; a quoted
// checkpoint of size 1 covers its first seq.
const K = 3;
const ENDED = MAX_ENDED_RUNS + K;
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

/** Runs 0..n-1 ended as above; the current run is n, from seq 2n. */
async function endedRuns(n = ENDED): Promise<EndedRun[]> {
  const out: EndedRun[] = [];
  for (let r = 0; r < n; r++)
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

/** The agent's state after `n` ended runs (ENDED: MAX_ENDED_RUNS + K, the K oldest then fold). */
async function agentState(n = ENDED): Promise<AgentAttest> {
  return attestState({
    ekPublic: '',
    akPublic: '',
    akName: '000b',
    activatedAt: 0,
    checkpoint: await checkpointOf(n, 2 * n),
    checks: ['quote.signature', 'checkpoint.signature', 'checkpoint.consistent'].map(passed),
    quote: QUOTE,
    acceptedAt: 0,
    run: { run: n, base: 2 * n },
    endedRuns: await endedRuns(n),
  });
}

/**
 * Archives the accepted quotes of runs [from, to]: each run's checkpoint of size 1 (the last one
 * of an ended run, the current one's of run `to`). `boots`: each quote starts a boot of its own
 * (the archive keeps the newest 16, so older runs' quotes are deleted).
 */
async function archiveRuns(store: Store, from: number, to: number, boots = false): Promise<void> {
  for (let r = from; r <= to; r++)
    await archiveQuote(store, AGENT, {
      run: r,
      base: 2 * r,
      cp: await checkpointOf(r, 2 * r),
      key: toBase64Url(key.raw),
      fresh: boots,
    });
}

const pgSkipped = pgSkip();
let pg: PgServer | undefined;
before(async () => {
  if (pgSkipped === false) pg = await startPg();
});
after(() => pg?.close());

/** The stores the verdict tests run on: SQLite, and PostgreSQL (skipped with why when absent). */
const STORES = [
  { name: 'sqlite', skip: false as const, open: async (): Promise<Store> => new SqliteStore(':memory:') },
  {
    name: 'postgres',
    skip: pgSkipped,
    open: async (): Promise<Store> => PgStore.open(await pg!.newDatabase(), { max: 2 }),
  },
];

async function setup(t: { after: (f: () => unknown) => void }, open: () => Promise<Store> = STORES[0]!.open) {
  const store = await open();
  t.after(() => store.close());
  await store.putReceipts(bodies.map((_, seq) => stored(seq)));
  await store.addKey({ agent: AGENT, keyId: key.keyId, key: key.raw, enrolledAt: 0 });
  const attest = createAttestService(store, {
    roots: [],
    nonceTtlMs: 1000,
    now: () => bodies[0]!.time.end / 1000,
    inclusionDeadlineMs: 10_000,
  });
  const l1 = async (seq: number): Promise<Check[]> =>
    (await l1Checks(store, attest, stored(seq), bodies[seq]!)).checks;
  const included = async (seq: number): Promise<Check> =>
    (await l1(seq)).find((c) => c.name === 'receipt.included')!;
  const bundled = async (seq: number) => (await attest.bundles.judging(AGENT, seq)) !== null;
  return { store, l1, included, bundled };
}

/** The agent's cold row as stored, parsed. */
async function coldRow(store: Store): Promise<Partial<AgentAttest>> {
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

/** What a verdict says, check by check, without the details (which name the quote judging it). */
const outcome = (checks: Check[]) => checks.map(({ name, status, code }) => ({ name, status, code }));

for (const { name, skip, open } of STORES) {
  test(`${name}: a receipt gets the same verdict and bundle before and after its run is folded while the archive holds the run's quotes`, {
    skip,
  }, async (t) => {
    const { store, l1, included, bundled } = await setup(t, open);
    // Before: MAX_ENDED_RUNS ended runs, all kept; run 0 is the oldest.
    await archiveRuns(store, 0, MAX_ENDED_RUNS);
    await saveAttest(store, AGENT, await agentState(MAX_ENDED_RUNS));
    assert.equal((await loadAttest(store, AGENT))?.foldedRuns, undefined);
    const before = new Map<number, { checks: Check[]; bundle: boolean }>();
    for (let seq = 0; seq < 2 * K; seq++)
      before.set(seq, { checks: await l1(seq), bundle: await bundled(seq) });
    // K more runs end (each with its accepted quote archived): runs 0..K-1 are folded.
    await archiveRuns(store, MAX_ENDED_RUNS + 1, ENDED);
    await saveAttest(store, AGENT, await agentState());
    assert.deepEqual((await loadAttest(store, AGENT))?.foldedRuns, {
      runs: K,
      first: 0,
      last: K - 1,
      base: 0,
      end: 2 * K,
    });
    for (let seq = 0; seq < 2 * K; seq++) {
      const was = before.get(seq)!;
      const now = await l1(seq);
      assert.deepEqual(outcome(now), outcome(was.checks), `seq ${seq}`);
      assert.equal(await bundled(seq), was.bundle, `seq ${seq}: bundle`);
      const c = now.find((x) => x.name === 'receipt.included')!;
      if (seq % 2 === 0) {
        // Covered by its run's checkpoint: passes against the archived quote, which its bundle carries.
        assert.equal(c.status, 'pass', c.detail);
        assert.match(
          c.detail,
          new RegExp(
            `^leaf 0 of the quoted checkpoint of size 1${seq === 0 ? '' : ` \\(log run ${seq / 2}, from seq ${seq}\\)`} \\(a folded log run: its archived quote\\)$`,
          ),
        );
        assert.equal(was.bundle, true);
      } else {
        // Left behind by its run: fails before and after, and never had a bundle.
        assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
        assert.match(c.detail, /folded: no quote archived here covered it before its run ended/);
        assert.equal(was.bundle, false);
      }
    }
    const cur = await included(2 * ENDED);
    assert.equal(cur.status, 'pass', cur.detail);
    assert.match(cur.detail, new RegExp(`log run ${ENDED}, from seq ${2 * ENDED}\\)$`));
  });

  test(`${name}: a folded receipt whose run's quotes the archive no longer holds fails saying so, and has no bundle`, {
    skip,
  }, async (t) => {
    const { store, included, bundled } = await setup(t, open);
    // One boot per quote: the archive keeps the newest 16, so the folded runs' quotes are gone.
    await archiveRuns(store, 0, ENDED, true);
    await saveAttest(store, AGENT, await agentState());
    for (let seq = 0; seq < 2 * K; seq++) {
      const c = await included(seq);
      assert.equal(c.status, 'fail', `seq ${seq}: ${c.detail}`);
      assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
      assert.match(
        c.detail,
        new RegExp(
          `runs 0 to ${K - 1}, seqs 0 to ${2 * K - 1}\\), folded: the quotes that could have covered it are no longer archived here`,
        ),
      );
      assert.equal(await bundled(seq), false, `seq ${seq}: bundle`);
    }
    // Kept runs are judged from the state, whatever the archive holds.
    assert.equal((await included(2 * K)).status, 'pass');
    assert.equal((await included(2 * K + 1)).code, 'RECEIPT_LOG_RUN_ENDED');
  });
}

test('with no archive at all (a verifier from before it), receipts of folded runs fail RECEIPT_LOG_RUN_ENDED, covered or not', async (t) => {
  const { store, included } = await setup(t);
  await saveAttest(store, AGENT, await agentState());
  for (let seq = 0; seq < 2 * K; seq++) {
    const c = await included(seq);
    assert.equal(c.status, 'fail', `seq ${seq}: ${c.detail}`);
    assert.equal(c.code, 'RECEIPT_LOG_RUN_ENDED');
    assert.match(c.detail, /folded: the quotes that could have covered it are no longer archived here/);
  }
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
