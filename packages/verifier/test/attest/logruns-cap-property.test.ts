// Property: however many log runs of an agent end, its stored state stays bounded (at most
// MAX_ENDED_RUNS ended runs in full, one folded summary), a seq of a kept run lies where it lay
// without the cap, and no seq that a quote never covered reads as covered (attest/state.ts
// foldEndedRuns, attest/runs.ts runOfSeq). Each run end is saved through saveAttest and read back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runOfSeq } from '../../src/attest/runs.ts';
import {
  type AgentAttest,
  type EndedRun,
  loadAttest,
  MAX_ENDED_RUNS,
  saveAttest,
} from '../../src/attest/state.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const AGENT = 'gpu-1';
const QUOTE = {
  attest: 'A'.repeat(200),
  signature: 'B'.repeat(100),
  pcrs: 'C'.repeat(100),
  nonce: '00'.repeat(32),
};

const base = (): AgentAttest => ({
  ekPublic: 'ek',
  ekCheck: { name: 'host.ek_certificate', status: 'pass', detail: 'test' },
  akPublic: 'ak',
  akName: '00',
  activatedAt: 1,
  pcr: 15,
  clock: null,
  ima: null,
  bound: [],
  checkpointKeys: [],
  checkpoint: null,
  checks: [],
  quote: null,
  acceptedAt: null,
});

/** One run end: how many seqs the run held and how many of them its last quote covered (0: none). */
const runEnd = fc.record({ len: fc.integer({ min: 1, max: 6 }), covered: fc.integer({ min: 0, max: 6 }) });

/** The ended run, as attest/runs.ts endOf records it (its checkpoint and quote of fixed size). */
function ended(run: number, from: number, e: { len: number; covered: number }): EndedRun {
  const covered = Math.min(e.covered, e.len);
  return {
    run,
    base: from,
    end: from + e.len,
    covered: from + covered,
    reason: `seq ${from + covered} never received`,
    endedAt: run,
    checkpoint:
      covered === 0
        ? null
        : { note: 'n'.repeat(300), size: covered, root: 'r'.repeat(44), keyId: 'k'.repeat(64) },
    quote: covered === 0 ? null : QUOTE,
  };
}

/** Bound on a stored ended run's JSON (numbers up to 2^53 included), and on the rest of the cold row. */
const RUN_MAX = JSON.stringify(ended(2 ** 53, 2 ** 53, { len: 6, covered: 6 })).length + 100;
const COLD_MAX = MAX_ENDED_RUNS * (RUN_MAX + 1) + 400;

test('property: ended runs stay bounded as runs keep ending, kept runs read as without the cap, no uncovered seq reads covered', async () => {
  let longest = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(runEnd, { minLength: 1, maxLength: 3 * MAX_ENDED_RUNS, size: 'max' }),
      async (ends) => {
        const store = new SqliteStore(':memory:');
        try {
          const all: EndedRun[] = [];
          let state = base();
          let loaded: AgentAttest | undefined;
          let from = 0;
          for (const [i, e] of ends.entries()) {
            const run = ended(i, from, e);
            all.push(run);
            from = run.end;
            state = {
              ...state,
              run: { run: i + 1, base: from },
              endedRuns: [...(state.endedRuns ?? []), run],
            };
            await saveAttest(store, AGENT, state, loaded);
            loaded = await loadAttest(store, AGENT);
            state = loaded!;
            const [cold] = await store.getAttestRows([`cold ${AGENT}`]);
            assert.ok(cold!.length <= COLD_MAX, `cold row of ${cold!.length} chars after ${i + 1} run ends`);
            assert.equal(state.endedRuns!.length, Math.min(i + 1, MAX_ENDED_RUNS));
          }
          const full: AgentAttest = { ...state, endedRuns: all, foldedRuns: undefined };
          const kept = all.slice(-MAX_ENDED_RUNS);
          for (let seq = 0; seq < from; seq++) {
            const place = runOfSeq(state, seq);
            const inKept = kept[0]!.base <= seq;
            if (inKept) assert.deepEqual(place, runOfSeq(full, seq), `seq ${seq}`);
            else assert.equal(place.kind, 'folded', `seq ${seq}`);
            const owner = all.find((r) => r.base <= seq && seq < r.end)!;
            if (place.kind === 'ended') assert.ok(seq < owner.covered, `seq ${seq} reads covered`);
          }
          assert.equal(runOfSeq(state, from).kind, 'current');
          longest = Math.max(longest, ends.length);
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: 25 },
  );
  // The sequences went past the cap (else the property said nothing about folding).
  assert.ok(longest > MAX_ENDED_RUNS, `longest sequence ${longest} run ends`);
});
