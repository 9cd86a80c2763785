import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError } from '@tmb/core';
import {
  type Checkpoint,
  formatCheckpoint,
  formatRunLine,
  isRunLine,
  parseCheckpoint,
  parseRunLine,
  runOfCheckpoint,
} from '@tmb/core/log';
import fc from 'fast-check';

const ROOT = 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=';
const HEAD = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
const text = (...ext: string[]) => ['tmb/agent/gpu-1', '12', ROOT, ...ext].map((l) => `${l}\n`).join('');

test('run lines: known answers', () => {
  assert.equal(formatRunLine({ run: 1, base: 0 }), 'tmb-run 1 0');
  assert.equal(formatRunLine({ run: 2, base: 40 }), 'tmb-run 2 40');
  assert.equal(
    formatRunLine({ run: 9007199254740991, base: 9007199254740991 }),
    'tmb-run 9007199254740991 9007199254740991',
  );
  assert.deepEqual(parseRunLine('tmb-run 2 40'), { run: 2, base: 40 });
  assert.deepEqual(parseRunLine('tmb-run 1 0'), { run: 1, base: 0 });
  // No run line: run 0, base 0 (every checkpoint written before runs existed).
  assert.deepEqual(runOfCheckpoint(text()), { run: 0, base: 0 });
  assert.deepEqual(runOfCheckpoint(text(`tmb-telemetry 3 ${HEAD}`)), { run: 0, base: 0 });
  assert.deepEqual(runOfCheckpoint(text('tmb-run 3 117')), { run: 3, base: 117 });
  assert.deepEqual(runOfCheckpoint(text('tmb-run 3 117', `tmb-telemetry 3 ${HEAD}`)), { run: 3, base: 117 });
  assert.deepEqual(runOfCheckpoint(parseCheckpoint(text('tmb-run 1 5'))), { run: 1, base: 5 });
  // Lines that merely start alike are other extensions, which TMB ignores.
  assert.deepEqual(runOfCheckpoint(text('tmb-runner 1 2')), { run: 0, base: 0 });
  assert.equal(isRunLine('tmb-run'), true);
  assert.equal(isRunLine('tmb-runs 1 2'), false);
});

test('run lines: malformed ones are LOG_RUN_LINE_INVALID', () => {
  const bad = [
    'tmb-run',
    'tmb-run ',
    'tmb-run 1',
    'tmb-run 1 ',
    'tmb-run 1 2 3',
    'tmb-run  1 2',
    'tmb-run 1  2',
    'tmb-run 0 0',
    'tmb-run 0 5',
    'tmb-run 01 5',
    'tmb-run 1 05',
    'tmb-run 1 00',
    'tmb-run +1 5',
    'tmb-run -1 5',
    'tmb-run 1 -5',
    'tmb-run 1 0x10',
    'tmb-run 1 1e3',
    'tmb-run 1 ５',
    'tmb-run 9007199254740992 1',
    'tmb-run 1 9007199254740992',
    'tmb-run 1 99999999999999999',
    'tmb-run 1 2 ',
  ];
  for (const line of bad) {
    assert.throws(() => parseRunLine(line), { code: 'LOG_RUN_LINE_INVALID' }, line);
    if (!line.endsWith(' ') && !line.includes('  '))
      assert.throws(() => runOfCheckpoint(text(line)), { code: 'LOG_RUN_LINE_INVALID' }, line);
  }
  // Duplicate, even when equal.
  assert.throws(() => runOfCheckpoint(text('tmb-run 1 5', 'tmb-run 1 5')), { code: 'LOG_RUN_LINE_INVALID' });
  assert.throws(() => runOfCheckpoint(text('tmb-run 1 5', 'tmb-run 2 9')), { code: 'LOG_RUN_LINE_INVALID' });
  // Not the first extension line.
  assert.throws(() => runOfCheckpoint(text(`tmb-telemetry 3 ${HEAD}`, 'tmb-run 1 5')), {
    code: 'LOG_RUN_LINE_INVALID',
  });
  // base + size past 2^53 - 1: leaf indices would not be exact.
  assert.throws(() => runOfCheckpoint(text('tmb-run 1 9007199254740985')), { code: 'LOG_RUN_LINE_INVALID' });
  // Formatting refuses what has no line.
  for (const r of [
    { run: 0, base: 0 },
    { run: -1, base: 0 },
    { run: 1.5, base: 0 },
    { run: 1, base: -1 },
    { run: 1, base: 2 ** 53 },
  ])
    assert.throws(() => formatRunLine(r), { code: 'LOG_RUN_LINE_INVALID' }, JSON.stringify(r));
  // Malformed checkpoint text keeps its own code.
  assert.throws(() => runOfCheckpoint('tmb/agent/x\n1\n'), { code: 'CHECKPOINT_MALFORMED' });
});

test('run lines: format/parse round-trip, and through a checkpoint', () => {
  const run = fc.record({
    run: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    base: fc.integer({ min: 0, max: 2 ** 40 }),
  });
  fc.assert(
    fc.property(run, fc.integer({ min: 0, max: 2 ** 40 }), fc.boolean(), (r, size, telemetry) => {
      const line = formatRunLine(r);
      assert.deepEqual(parseRunLine(line), { ...r });
      const cp: Checkpoint = {
        origin: 'tmb/agent/a',
        size,
        root: new Uint8Array(32),
        extensions: telemetry ? [line, `tmb-telemetry 1 ${HEAD}`] : [line],
      };
      assert.deepEqual(runOfCheckpoint(formatCheckpoint(cp)), { ...r });
    }),
    { numRuns: 300 },
  );
});

test('run lines: any text yields a run or LOG_RUN_LINE_INVALID, never another error', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 30 }).map((s) => `tmb-run ${s}`),
        fc
          .tuple(fc.bigInt({ min: -10n, max: 2n ** 60n }), fc.bigInt({ min: -10n, max: 2n ** 60n }))
          .map(([a, b]) => `tmb-run ${a} ${b}`),
      ),
      (line) => {
        try {
          const r = parseRunLine(line);
          assert.equal(formatRunLine(r), line);
        } catch (err) {
          assert.ok(err instanceof CoreError);
          assert.equal(err.code, 'LOG_RUN_LINE_INVALID');
        }
      },
    ),
    { numRuns: 500 },
  );
});
