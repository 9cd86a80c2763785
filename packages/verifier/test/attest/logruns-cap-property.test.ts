// Property: however many log runs of an agent end, its stored state stays bounded (at most
// MAX_ENDED_RUNS ended runs in full, one folded summary), a seq of a kept run lies where it lay
// without the cap, and no seq that a quote never covered reads as covered (attest/state.ts
// foldEndedRuns, attest/runs.ts runOfSeq). Each run end is saved through saveAttest and read back.
// A second property judges the folded runs' seqs from the bundle archive (placeFolded): covered
// exactly as without the cap while the archive holds the run's quotes, never covered otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { placeFolded, runOfSeq } from '../../src/attest/runs.ts';
import {
  type AgentAttest,
  type EndedRun,
  loadAttest,
  MAX_ENDED_RUNS,
  saveAttest,
} from '../../src/attest/state.ts';
import { BundleArchive } from '../../src/bundle/archive.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { archiveQuote, attestState } from './state-fixture.ts';

const AGENT = 'gpu-1';
const QUOTE = {
  attest: 'A'.repeat(200),
  signature: 'B'.repeat(100),
  pcrs: 'C'.repeat(100),
  nonce: '00'.repeat(32),
};

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
          let state = attestState();
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

/** An archived quote in the model: its n, boot, run, base and size (seq end = base + size). */
interface Row {
  n: number;
  boot: number;
  run: number;
  base: number;
  size: number;
}

test("property: a folded seq judged from the archive is covered exactly when its run's last checkpoint covered it and the archive still holds its quote; never covered past it", async () => {
  let pruned = 0;
  let whole = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(runEnd, { minLength: MAX_ENDED_RUNS + 1, maxLength: 2 * MAX_ENDED_RUNS, size: 'max' }),
      fc.constantFrom(0, 1, 4, 9),
      async (ends, rebootEvery) => {
        const store = new SqliteStore(':memory:');
        try {
          const archive = new BundleArchive(store);
          const all: EndedRun[] = [];
          const rows: Row[] = [];
          let state = attestState();
          let from = 0;
          /** Archives a quote of `run` from `base` of `size`, as the verifier does when it accepts one. */
          const accept = async (run: number, base: number, size: number, fresh: boolean) => {
            const n = rows.length;
            const boot = n === 0 || fresh ? n : rows.at(-1)!.boot;
            rows.push({ n, boot, run, base, size });
            const cp = { note: `note ${run} ${size}`, size };
            await archiveQuote(store, AGENT, { run, base, cp, key: 'AAAA', fresh });
          };
          for (const [i, e] of ends.entries()) {
            const run = ended(i, from, e);
            // The run's quotes: half of what it covered, then all of it (none when it covered nothing).
            const covered = run.covered - run.base;
            const fresh = rebootEvery > 0 && i % rebootEvery === 0;
            if (covered > 1) await accept(i, from, Math.floor(covered / 2), fresh);
            if (covered > 0) await accept(i, from, covered, fresh && covered === 1);
            all.push(run);
            from = run.end;
            state = {
              ...state,
              run: { run: i + 1, base: from },
              endedRuns: [...(state.endedRuns ?? []), run],
            };
          }
          // The accepted checkpoint of the current run that ended the last one (size 0 here).
          await accept(ends.length, from, 0, false);
          await saveAttest(store, AGENT, state);
          const folded = (await loadAttest(store, AGENT))!;
          const full: AgentAttest = { ...folded, endedRuns: all, foldedRuns: undefined };
          const boots = [...new Set(rows.map((r) => r.boot))];
          const keptFrom = boots.at(-16) ?? 0;
          const firstKept = rows.find((r) => r.boot >= keptFrom)!.n;
          if (keptFrom > 0) pruned++;
          else whole++;
          for (let seq = 0; seq < folded.foldedRuns!.end; seq++) {
            const place = runOfSeq(folded, seq);
            assert.equal(place.kind, 'folded', `seq ${seq}`);
            if (place.kind !== 'folded') continue;
            const judged = await placeFolded(archive, AGENT, folded, seq, place);
            const owner = all.find((r) => r.base <= seq && seq < r.end)!;
            const uncapped = runOfSeq(full, seq);
            // Never covered where the run's last checkpoint did not cover it.
            if (judged.kind === 'ended') {
              assert.ok(seq < owner.covered, `seq ${seq} reads covered`);
              assert.equal(judged.ended.run, owner.run);
              assert.equal(uncapped.kind, 'ended');
            }
            // The quote that judged it, in the model: kept or deleted by retention.
            const hit = rows.find((r) => r.base + r.size > seq)!;
            const kept = hit.boot >= keptFrom;
            if (kept && seq < owner.covered) assert.equal(judged.kind, 'ended', `seq ${seq}`);
            else {
              assert.equal(judged.kind, 'folded', `seq ${seq}`);
              const known = kept && (hit.n > firstKept || firstKept === 0);
              assert.equal(
                judged.kind === 'folded' && judged.archive,
                known ? 'uncovered' : 'gone',
                `seq ${seq}`,
              );
            }
            // With every quote still archived, the verdict is the one without the cap.
            if (keptFrom === 0)
              assert.equal(judged.kind === 'ended', uncapped.kind === 'ended', `seq ${seq}`);
          }
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: 20 },
  );
  // Both an archive that kept every quote and one that deleted old boots were tried.
  assert.ok(pruned > 0 && whole > 0, `pruned ${pruned}, whole ${whole}`);
});
