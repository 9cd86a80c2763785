import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  buildEntry,
  displayPath,
  encodeBinaryLog,
  ImaParseError,
  LogReader,
  parseAsciiLog,
  parseBinaryLog,
  parseLogColumns,
  pathBytes,
  replayColumns,
  templateHashFailures,
} from '@tmb/core/ima';
import fc from 'fast-check';
import { generateAscii, generateBinary } from '../../../../scripts/ima-gen.ts';

// LogReader: a list parsed as its bytes arrive. Same entries as a whole parse whatever the
// chunking; the first bad entry stops it, so an endless or huge bad input is read one chunk
// deep. Plus the errors a person gets for a text file that was edited, and names that are
// not UTF-8.

const enc = (s: string) => new TextEncoder().encode(s);
const opts = { entries: 120, seed: 9, violations: 0.03 };
const BIN = generateBinary(opts);
const TXT = enc(generateAscii(opts));

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    assert.ok(err instanceof ImaParseError, String(err));
    return err.code;
  }
}

function readAll(bytes: Uint8Array, cuts: number[]) {
  const r = new LogReader();
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    r.push(bytes.slice(at, Math.max(at, c)));
    at = Math.max(at, c);
  }
  r.push(bytes.slice(at));
  return r.end();
}

const view = (cols: ReturnType<typeof parseLogColumns>['columns']) =>
  Array.from({ length: cols.length }, (_, i) => {
    const e = cols.entry(i);
    return [e.index, e.offset, e.pcr, e.template, e.path, e.digest, [...e.templateHash], [...e.templateData]];
  });

test('property: any chunking of a binary or ASCII list gives the entries of the whole parse', () => {
  const whole = { bin: parseLogColumns(BIN).columns, txt: parseLogColumns(TXT).columns };
  fc.assert(
    fc.property(fc.boolean(), fc.array(fc.nat(), { maxLength: 12 }), (bin, raw) => {
      const bytes = bin ? BIN : TXT;
      const cuts = raw.map((n) => n % (bytes.length + 1));
      const { form, columns } = readAll(bytes, cuts);
      assert.equal(form, bin ? 'binary' : 'ascii');
      assert.deepEqual(view(columns), view(bin ? whole.bin : whole.txt));
      assert.deepEqual(replayColumns(columns).pcr, replayColumns(whole.bin).pcr);
    }),
    { numRuns: 60 },
  );
});

test('property: a truncated or corrupted list fails in the stream exactly as in the whole parse', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.nat(), fc.nat(255), fc.nat(), (bin, pos, byte, cut) => {
      const bytes = (bin ? BIN : TXT).slice();
      bytes[pos % bytes.length] = byte;
      const end = bytes.subarray(0, bytes.length - (cut % 50));
      let whole: unknown = null;
      let streamed: unknown = null;
      try {
        parseLogColumns(end);
      } catch (err) {
        whole = err;
      }
      try {
        readAll(end, [cut % end.length, (cut * 7) % end.length]);
      } catch (err) {
        streamed = err;
      }
      if (whole === null) assert.equal(streamed, null);
      else {
        assert.ok(streamed instanceof ImaParseError && whole instanceof ImaParseError);
        assert.deepEqual(
          [streamed.code, streamed.entryIndex, streamed.entryOffset, streamed.offset],
          [whole.code, whole.entryIndex, whole.entryOffset, whole.offset],
        );
      }
    }),
    { numRuns: 200 },
  );
});

test('an endless stream of zero bytes (/dev/zero) fails on its first chunk', () => {
  const r = new LogReader();
  let pushed = 0;
  assert.throws(
    () => {
      for (;;) {
        r.push(new Uint8Array(65536));
        pushed++;
        if (pushed > 100) break; // would mean the reader is buffering: fail below
      }
    },
    (err: unknown) => err instanceof ImaParseError && err.code === 'IMA_TEMPLATE_UNKNOWN',
  );
  assert.equal(pushed, 0);
  assert.equal(r.bytesRead, 65536);
});

test('a binary list whose first entry names a bad template at byte 28 fails there, before more is read', () => {
  const head = new Uint8Array(28 + 6);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, 10, true);
  head.fill(0xab, 4, 24);
  dv.setUint32(24, 6, true);
  head.set(enc('imb-ng'), 28);
  const r = new LogReader();
  assert.throws(
    () => r.push(new Uint8Array([...head, ...new Uint8Array(1 << 20)])),
    (err: unknown) =>
      err instanceof ImaParseError && err.code === 'IMA_TEMPLATE_UNKNOWN' && err.offset === 28,
  );
});

test('an endless line without a newline fails past the longest line a kernel prints', () => {
  const r = new LogReader();
  const chunk = enc('1'.repeat(1 << 16));
  let pushed = 0;
  assert.throws(
    () => {
      for (; pushed < 100; pushed++) r.push(chunk);
    },
    (err: unknown) => err instanceof ImaParseError && err.code === 'LENGTH_TOO_LARGE',
  );
  assert.ok(pushed < 40, `${pushed} chunks`); // 2 MiB + 1 KiB at most
});

test('edited text files: byte-order mark, lone newline, CRLF, blank line, empty file each say what is wrong', () => {
  const line = new TextDecoder().decode(TXT).split('\n')[0]!;
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['BOM', new Uint8Array([0xef, 0xbb, 0xbf, ...enc(`${line}\n`)]), 'IMA_ASCII_BOM', /byte-order mark/],
    ['lone newline', enc('\n'), 'IMA_ASCII_BLANK_LINE', /line 1 is empty \(a lone newline\)/],
    ['CRLF', enc(`${line}\r\n${line}\r\n`), 'IMA_ASCII_CRLF', /line 1 ends in CR LF/],
    ['blank line', enc(`${line}\n\n${line}\n`), 'IMA_ASCII_BLANK_LINE', /line 2 is empty/],
  ];
  for (const [name, bytes, code, message] of cases) {
    for (const parse of [() => parseLogColumns(bytes), () => readAll(bytes, [1, 2])]) {
      assert.throws(
        parse,
        (err: unknown) => err instanceof ImaParseError && err.code === code && message.test(err.message),
        name,
      );
    }
  }
  assert.equal(
    codeOf(() => new LogReader({ rejectEmpty: true }).end()),
    'IMA_LOG_EMPTY',
  );
  assert.equal(new LogReader().end().columns.length, 0); // an empty delta is fine
});

test('names that are not UTF-8 keep their bytes, one such entry does not reject the list, and the template hash holds', () => {
  const good = buildEntry({ digest: new Uint8Array(32).fill(1), path: '/usr/bin/ok' });
  const raw = Uint8Array.of(0x2f, 0x62, 0xff, 0xc3, 0x28, 0xe2, 0x82); // invalid and truncated UTF-8
  // An ASCII line as the kernel prints it ("%s" of the name's bytes).
  const hexDigest = '01'.repeat(32);
  const pre = enc(`10 ${'00'.repeat(19)}01 ima-ng sha256:${hexDigest} `);
  const e = parseAsciiLog(new Uint8Array([...pre, ...raw, 0x0a]))[0]!;
  assert.deepEqual([...e.pathBytes], [...raw]);
  assert.equal(e.path, '/b\udcff\udcc3(\udce2\udc82');
  assert.deepEqual([...pathBytes(e.path)], [...raw]);
  assert.equal(displayPath(e.path), '/b\\xff\\xc3(\\xe2\\x82');
  // With its true template hash (SHA-1 of the template data holding the raw bytes), it verifies;
  // in binary form between good entries, all three parse.
  const data = e.templateData;
  const fixed = new Uint8Array([
    ...enc(`10 ${createHash('sha1').update(data).digest('hex')} ima-ng sha256:${hexDigest} `),
    ...raw,
    0x0a,
  ]);
  const asciiCols = parseLogColumns(fixed).columns;
  assert.deepEqual(templateHashFailures(asciiCols), []);
  const bin = encodeBinaryLog([good, asciiCols.entry(0), good]);
  const entries = parseBinaryLog(bin);
  assert.equal(entries.length, 3);
  assert.deepEqual([...entries[1]!.pathBytes], [...raw]);
  assert.deepEqual(templateHashFailures(parseLogColumns(bin).columns), []);
});

test('property: random bytes pushed in random chunks only ever yield an ImaParseError or entries', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(400), { maxLength: 5 }), (bytes, cuts) => {
      try {
        readAll(
          bytes,
          cuts.map((c) => c % (bytes.length + 1)),
        );
      } catch (err) {
        assert.ok(err instanceof ImaParseError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});
