import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  advanceIma,
  encodeBinaryLog,
  type ImaState,
  initialImaState,
  parseBinaryLog,
  replay,
} from '@tmb/core/ima';
import { generateBinary } from '../../../../scripts/ima-gen.ts';

// One generated log read in rounds, as an agent sends it: a full log first, then deltas.
const all = generateBinary({ entries: 300, seed: 11 });
const full = parseBinaryLog(all);
const pcrAfter = (n: number) => replay(full.slice(0, n), { bank: 'sha256' }).pcr;
const delta = (from: number, to: number) => {
  const bytes = encodeBinaryLog(full.slice(from, to));
  return parseBinaryLog(bytes, { firstIndex: from });
};
const round = (state: ImaState, from: number, to: number, quoteAfter: number, resetCount = 1, options = {}) =>
  advanceIma(
    state,
    { startIndex: from, entries: delta(from, to), quotedPcr: pcrAfter(quoteAfter), resetCount },
    options,
  );

test('a full log, then deltas of new entries only, each replayed on the kept running value', () => {
  let s = initialImaState('sha256', 10, 1);
  let r = round(s, 0, 100, 100);
  assert.equal(r.checks[0]!.status, 'pass');
  assert.deepEqual(
    [r.state.nextIndex, r.state.pending, r.accepted.length, r.fresh.length],
    [100, 0, 100, 100],
  );
  s = r.state;
  r = round(s, 100, 150, 150);
  assert.equal(r.checks[0]!.status, 'pass');
  assert.equal(r.state.nextIndex, 150);
  assert.deepEqual(
    r.accepted.map((e) => e.index),
    Array.from({ length: 50 }, (_, i) => 100 + i),
  );
  assert.equal(r.state.pcr, Buffer.from(pcrAfter(150)).toString('hex'));
  // An empty delta against an unchanged PCR passes and keeps the state.
  const again = round(r.state, 150, 150, 150);
  assert.equal(again.checks[0]!.status, 'pass');
  assert.deepEqual(again.state, r.state);
});

test('the log running ahead of the quote is tolerated once; the next quote must catch up', () => {
  let r = round(initialImaState('sha256', 10, 1), 0, 120, 100);
  assert.equal(r.checks[0]!.status, 'pass');
  assert.match(r.checks[0]!.detail, /20 later entries wait/);
  assert.deepEqual([r.state.nextIndex, r.state.pending, r.accepted.length], [100, 20, 100]);
  const s = r.state;
  // The next quote covers them: pass, and only entries not seen before are fresh.
  r = round(s, 100, 130, 130);
  assert.equal(r.checks[0]!.status, 'pass');
  assert.deepEqual(
    r.fresh.map((e) => e.index),
    Array.from({ length: 10 }, (_, i) => 120 + i),
  );
  assert.equal(r.accepted.length, 30);
  // A later quote that still stops before them fails.
  const stuck = round(s, 100, 130, 110);
  assert.equal(stuck.checks[0]!.status, 'fail');
  assert.equal(stuck.checks[0]!.code, 'IMA_QUOTE_NOT_CAUGHT_UP');
});

test('strict mode: a log longer than its quote fails, naming the first entry past it', () => {
  const r = round(initialImaState('sha256', 10, 1), 0, 120, 100, 1, { strict: true });
  assert.equal(r.checks[0]!.code, 'IMA_LOG_AHEAD_OF_QUOTE');
  assert.match(r.checks[0]!.detail, new RegExp(`entry #100 at byte ${full[100]!.offset}`));
});

test('the quote ahead of the log is tolerated for one round, accepting nothing; then it fails', () => {
  const s = round(initialImaState('sha256', 10, 1), 0, 100, 100).state;
  const r1 = round(s, 100, 110, 120);
  assert.equal(r1.checks[0]!.status, 'skipped');
  assert.deepEqual([r1.state.nextIndex, r1.accepted.length], [100, 0]);
  const r2 = round(r1.state, 100, 115, 130);
  assert.equal(r2.checks[0]!.code, 'IMA_PCR_MISMATCH');
  // When the log catches up instead, the round passes.
  const ok = round(r1.state, 100, 120, 120);
  assert.equal(ok.checks[0]!.status, 'pass');
  assert.equal(ok.state.unmatchedRounds, 0);
});

test('a reboot (new resetCount) requires a full log; a delta is refused and the state restarts', () => {
  const s = round(initialImaState('sha256', 10, 1), 0, 100, 100).state;
  const r = round(s, 100, 120, 120, 2);
  assert.equal(r.checks[0]!.code, 'IMA_FULL_LOG_REQUIRED');
  assert.deepEqual([r.state.resetCount, r.state.nextIndex], [2, 0]);
  const fresh = round(r.state, 0, 50, 50, 2);
  assert.equal(fresh.checks[0]!.status, 'pass');
  assert.equal(round(s, 0, 50, 50, 0).checks[0]!.code, 'IMA_RESET_COUNT_DECREASED');
});

test('evidence that does not start at the next index fails IMA_INDEX_GAP', () => {
  const s = round(initialImaState('sha256', 10, 1), 0, 100, 100).state;
  assert.equal(round(s, 101, 120, 120).checks[0]!.code, 'IMA_INDEX_GAP');
});

test('a tampered entry in a delta: the sha256 replay cannot reach the quote', () => {
  const s = round(initialImaState('sha256', 10, 1), 0, 100, 100).state;
  const bytes = encodeBinaryLog(full.slice(100, 110));
  const at = bytes.length - 3;
  bytes[at] = bytes[at]! ^ 1;
  const entries = parseBinaryLog(bytes, { firstIndex: 100 });
  const r = advanceIma(
    s,
    { startIndex: 100, entries, quotedPcr: pcrAfter(110), resetCount: 1 },
    { maxUnmatchedRounds: 0 },
  );
  assert.equal(r.checks[0]!.code, 'IMA_PCR_MISMATCH');
  const r1 = advanceIma(
    s,
    { startIndex: 100, entries, quotedPcr: pcrAfter(110), resetCount: 1 },
    { checkTemplateHash: true, maxUnmatchedRounds: 0 },
  );
  assert.ok(r1.checks.some((c) => c.code === 'IMA_TEMPLATE_HASH_MISMATCH'));
});
