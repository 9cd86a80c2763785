import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEntry, encodeBinaryLog, ImaParseError, parseAsciiLog, parseBinaryLog } from '@tmb/core/ima';

// Every malformed input names its code, the entry it is in, where that entry starts and the
// byte offset of the bad field. Each case starts from two good entries (so the bad one is
// entry 2) and breaks the third.

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const str = (s: string) => new TextEncoder().encode(s);

const good = encodeBinaryLog([
  buildEntry({ digest: fill(32, 1), path: 'boot_aggregate' }),
  buildEntry({ digest: fill(32, 2), path: '/usr/bin/bash' }),
]);
const S = good.length; // entry 2 starts here
const header = (name: string) => cat(u32(10), fill(20, 7), u32(name.length), str(name));
const dng = (alg: string, digest: Uint8Array) => {
  const d = cat(str(`${alg}:`), Uint8Array.of(0), digest);
  return cat(u32(d.length), d);
};
const nng = (name: Uint8Array) => cat(u32(name.length + 1), name, Uint8Array.of(0));
const ngEntry = (fields: Uint8Array, name = 'ima-ng') => cat(header(name), u32(fields.length), fields);

function expectError(bad: Uint8Array, code: string, offset: number, parse = parseBinaryLog): void {
  assert.throws(
    () => parse(bad),
    (err: unknown) => {
      assert.ok(err instanceof ImaParseError, `expected ImaParseError, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.entryIndex, 2);
      assert.equal(err.entryOffset, S);
      assert.equal(err.offset, offset);
      return true;
    },
  );
}

test('a truncated entry header: TRUNCATED at the field that is cut', () => {
  expectError(cat(good, u32(10), fill(7, 0)), 'TRUNCATED', S + 4);
  expectError(cat(good, Uint8Array.of(10, 0)), 'TRUNCATED', S);
});

test('template data length past the end: LENGTH_TOO_LARGE, nothing allocated', () => {
  expectError(cat(good, header('ima-ng'), u32(5000), fill(10, 0)), 'LENGTH_TOO_LARGE', S + 38);
});

test('absurd lengths are refused against the cap before anything else', () => {
  expectError(cat(good, header('ima-ng'), u32(0xffff_ffff)), 'LENGTH_TOO_LARGE', S + 38);
  expectError(cat(good, u32(10), fill(20, 7), u32(0x7fff_ffff)), 'LENGTH_TOO_LARGE', S + 28);
  // A legacy ima name over 255 bytes.
  expectError(cat(good, header('ima'), fill(20, 1), u32(256), fill(256, 0x61)), 'LENGTH_TOO_LARGE', S + 55);
});

test('an unknown template: IMA_TEMPLATE_UNKNOWN at the name', () => {
  expectError(
    cat(good, ngEntry(cat(dng('sha256', fill(32, 1)), nng(str('/x'))), 'ima-foo')),
    'IMA_TEMPLATE_UNKNOWN',
    S + 28,
  );
});

test('a non-UTF-8 path is kept as bytes, not refused (a name is any bytes but NUL); a NUL inside is refused', () => {
  const d = dng('sha256', fill(32, 1));
  const entries = parseBinaryLog(cat(good, ngEntry(cat(d, nng(Uint8Array.of(0x2f, 0xc3, 0x28))))));
  assert.equal(entries.length, 3);
  assert.deepEqual([...entries[2]!.pathBytes], [0x2f, 0xc3, 0x28]);
  assert.equal(entries[2]!.path, '/\udcc3(');
  expectError(
    cat(good, ngEntry(cat(d, nng(Uint8Array.of(0x2f, 0, 0x28))))),
    'IMA_FIELD_MALFORMED',
    S + 38 + d.length + 4,
  );
});

test('a digest of the wrong size for its algorithm: IMA_DIGEST_SIZE_MISMATCH', () => {
  expectError(
    cat(good, ngEntry(cat(dng('sha256', fill(20, 1)), nng(str('/x'))))),
    'IMA_DIGEST_SIZE_MISMATCH',
    S + 38 + 4 + 8,
  );
});

test('an unsupported digest algorithm: IMA_DIGEST_ALG_UNSUPPORTED', () => {
  expectError(
    cat(good, ngEntry(cat(dng('md5', fill(16, 1)), nng(str('/x'))))),
    'IMA_DIGEST_ALG_UNSUPPORTED',
    S + 38 + 4,
  );
});

test('fields that do not fill the template data exactly: IMA_FIELD_MALFORMED', () => {
  const d = dng('sha256', fill(32, 1));
  const fields = cat(d, nng(str('/x')), Uint8Array.of(0, 0));
  expectError(cat(good, ngEntry(fields)), 'IMA_FIELD_MALFORMED', S + 38 + fields.length - 2);
  // A field length that runs past the template data.
  const over = cat(d, u32(99), str('/x'), Uint8Array.of(0));
  expectError(cat(good, ngEntry(over)), 'IMA_FIELD_MALFORMED', S + 38 + d.length + 4);
  // No "<algo>:\0" prefix; a name without its NUL; a NUL inside the name.
  expectError(
    cat(good, ngEntry(cat(u32(4), str('abcd'), nng(str('/x'))))),
    'IMA_FIELD_MALFORMED',
    S + 38 + 4,
  );
  expectError(cat(good, ngEntry(cat(d, u32(2), str('/x')))), 'IMA_FIELD_MALFORMED', S + 38 + d.length + 4);
  expectError(cat(good, ngEntry(cat(d, nng(str('/a\0b'))))), 'IMA_FIELD_MALFORMED', S + 38 + d.length + 4);
  // ima-sig without its sig field.
  expectError(
    cat(good, ngEntry(cat(d, nng(str('/x'))), 'ima-sig')),
    'IMA_FIELD_MALFORMED',
    S + 39 + d.length + 7,
  );
});

test('a PCR index no TPM has: IMA_PCR_INDEX_INVALID', () => {
  const bad = encodeBinaryLog([buildEntry({ digest: fill(32, 3), path: '/x' })]);
  new DataView(bad.buffer).setUint32(0, 24, true);
  expectError(cat(good, bad), 'IMA_PCR_INDEX_INVALID', S);
});

test('more entries than the cap: LENGTH_TOO_LARGE', () => {
  assert.throws(
    () => parseBinaryLog(good, { maxEntries: 1 }),
    (err: unknown) => err instanceof ImaParseError && err.code === 'LENGTH_TOO_LARGE' && err.entryIndex === 1,
  );
});

test('a delta names entries by their index in the whole list', () => {
  assert.throws(
    () => parseBinaryLog(cat(good, Uint8Array.of(1)), { firstIndex: 500 }),
    (err: unknown) => err instanceof ImaParseError && err.entryIndex === 502 && err.code === 'TRUNCATED',
  );
});

const L0 = `10 ${'ab'.repeat(20)} ima-ng sha256:${'01'.repeat(32)} boot_aggregate\n`;
const L1 = `10 ${'cd'.repeat(20)} ima-ng sha1:${'02'.repeat(20)} /usr/bin/bash\n`;
const A = str(L0 + L1).length;
const ascii = (line: string) => str(`${L0}${L1}${line}\n`);
const expectAscii = (line: string, code: string, col: number) => expectAsciiAt(ascii(line), code, A + col);
function expectAsciiAt(bad: Uint8Array, code: string, offset: number): void {
  assert.throws(
    () => parseAsciiLog(bad),
    (err: unknown) => {
      assert.ok(err instanceof ImaParseError);
      assert.equal(err.code, code);
      assert.equal(err.entryIndex, 2);
      assert.equal(err.entryOffset, A);
      assert.equal(err.offset, offset);
      return true;
    },
  );
}

test('ASCII: malformed lines, unknown templates, bad digests, each with its code and offset', () => {
  const th = 'ef'.repeat(20);
  expectAscii('10 nothex ima-ng sha256:00 /x', 'IMA_ASCII_MALFORMED', 3);
  expectAscii('', 'IMA_ASCII_BLANK_LINE', 0);
  expectAscii(`10 ${th} ima-xyz sha256:${'00'.repeat(32)} /x`, 'IMA_TEMPLATE_UNKNOWN', 44);
  expectAscii(`10 ${th} ima-ng sha256:${'00'.repeat(31)} /x`, 'IMA_DIGEST_SIZE_MISMATCH', 58);
  expectAscii(`10 ${th} ima-ng md5:${'00'.repeat(16)} /x`, 'IMA_DIGEST_ALG_UNSUPPORTED', 51);
  expectAscii(`10 ${th} ima-ng sha256:${'0g'.repeat(32)} /x`, 'IMA_ASCII_MALFORMED', 58);
  expectAscii(`10 ${th} ima-ng sha256:${'00'.repeat(32)}`, 'IMA_ASCII_MALFORMED', 122);
  expectAscii(`10 ${th} ima-sig sha256:${'00'.repeat(32)} /x 0z`, 'IMA_ASCII_MALFORMED', 127);
  expectAscii(`30 ${th} ima-ng sha256:${'00'.repeat(32)} /x`, 'IMA_PCR_INDEX_INVALID', 0);
  expectAscii(`10 ${th} ima ${'00'.repeat(20)} /${'a'.repeat(300)}`, 'LENGTH_TOO_LARGE', 89);
  // A name that is not UTF-8 is printed by the kernel as its bytes ("%s"): kept, not refused.
  const raw = parseAsciiLog(
    cat(str(`${L0}${L1}10 ${th} ima-ng sha256:${'00'.repeat(32)} /`), Uint8Array.of(0xff), str('\n')),
  );
  assert.deepEqual([...raw[2]!.pathBytes], [0x2f, 0xff]);
});
