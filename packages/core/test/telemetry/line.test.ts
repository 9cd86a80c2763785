import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBase64, toBase64 } from '@tmb/core';
import {
  formatTelemetryLine,
  isTelemetryLine,
  parseTelemetryLine,
  TELEMETRY_LINE_KEYWORD,
} from '@tmb/core/telemetry';
import fc from 'fast-check';

// The head after the two batches of chain.test.ts.
const HEAD_B64 = 'iL6AAhiutUQvJDPLa+tldVCbiBi55zVu8vrdvlmVehw=';
const LINE = `tmb-telemetry 2 ${HEAD_B64}`;

test('telemetry line: known answers', () => {
  assert.equal(TELEMETRY_LINE_KEYWORD, 'tmb-telemetry');
  assert.equal(formatTelemetryLine(2, fromBase64(HEAD_B64)), LINE);
  assert.deepEqual(parseTelemetryLine(LINE), { count: 2, head: fromBase64(HEAD_B64) });
  const ones = 'tmb-telemetry 2 AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=';
  assert.deepEqual(parseTelemetryLine(ones), { count: 2, head: new Uint8Array(32).fill(1) });
  assert.equal(parseTelemetryLine(`tmb-telemetry 9999999999999999 ${HEAD_B64}`)?.count, 1e16);
});

test('telemetry line: malformed lines parse to undefined, never throw', () => {
  const A = 'A'.repeat(43);
  const bad = [
    'tmb-telemetry',
    'tmb-telemetry 0 AAAA',
    `tmb-telemetry 0 ${A}=`,
    `tmb-telemetry 01 ${A}=`,
    `tmb-telemetry -1 ${A}=`,
    `tmb-telemetry 10000000000000000 ${A}=`,
    `${LINE} extra`,
    `${LINE} `,
    ` ${LINE}`,
    `${LINE}\n`,
    LINE.replace(' 2 ', '  2 '),
    LINE.replace(' 2 ', '\t2 '),
    'tmb-telemetry 2 ?',
    `tmb-telemetry 2 ${A}`,
    `tmb-telemetry 2 ${A.slice(1)}==`,
    `tmb-telemetry 2 ${A}A=`,
    `tmb-telemetry 2 ${'_'.repeat(43)}=`,
    // matches the shape but is not canonical base64: the last character's low bits are set
    `tmb-telemetry 2 ${A.slice(1)}B=`,
    `TMB-TELEMETRY 2 ${HEAD_B64}`,
    `tmb-telemetryx 2 ${HEAD_B64}`,
  ];
  for (const line of bad) assert.equal(parseTelemetryLine(line), undefined, JSON.stringify(line));
});

test('isTelemetryLine: the first word is the keyword', () => {
  assert.equal(isTelemetryLine('tmb-telemetry'), true);
  assert.equal(isTelemetryLine('tmb-telemetry x'), true);
  assert.equal(isTelemetryLine(LINE), true);
  assert.equal(isTelemetryLine('tmb-telemetryx 2 y'), false);
  assert.equal(isTelemetryLine('tmb-run 1 0'), false);
  assert.equal(isTelemetryLine(''), false);
});

test('formatTelemetryLine refuses a count below 1 and a head that is not 32 bytes', () => {
  const head = new Uint8Array(32);
  for (const count of [0, -1, 1.5, Number.NaN, 2 ** 53])
    assert.throws(() => formatTelemetryLine(count, head), {
      name: 'CoreError',
      code: 'INTEGER_OUT_OF_RANGE',
    });
  for (const n of [0, 31, 33])
    assert.throws(() => formatTelemetryLine(1, new Uint8Array(n)), {
      name: 'CoreError',
      code: 'BAD_ENCODING',
    });
});

test('property: format then parse round-trips', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (count, head) => {
        const line = formatTelemetryLine(count, head);
        assert.deepEqual(parseTelemetryLine(line), { count, head });
        assert.equal(isTelemetryLine(line), true);
      },
    ),
  );
});

test('property: any text never throws, and what parses is exactly its own format', () => {
  const tail = fc.oneof(
    fc.string({ maxLength: 80 }),
    fc
      .tuple(fc.nat(), fc.uint8Array({ minLength: 30, maxLength: 34 }))
      .map(([n, b]) => `${n} ${toBase64(b)}`),
  );
  fc.assert(
    fc.property(tail, (t) => {
      for (const line of [`tmb-telemetry ${t}`, t]) {
        const parsed = parseTelemetryLine(line);
        if (parsed !== undefined && Number.isSafeInteger(parsed.count))
          assert.equal(formatTelemetryLine(parsed.count, parsed.head), line);
      }
    }),
  );
});
