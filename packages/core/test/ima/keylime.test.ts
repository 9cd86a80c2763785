import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  ImaParseError,
  parseAsciiColumns,
  parseLogColumns,
  replayColumns,
  templateHashFailures,
} from '@tmb/core/ima';

// Keylime parity on Keylime's own vectors (../vectors/ima/keylime/README.md): the same lines
// parse, the same template hashes verify, the same "must not pass" line fails, and the
// per-bank lists (SHA-256 template hashes) read like the SHA-1 one.

const dir = new URL('../vectors/ima/keylime/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const lines = (name: string) =>
  new TextDecoder()
    .decode(read(name))
    .split('\n')
    .filter((l) => l !== '');

test('every line of Keylime valid entries parses and its SHA-1 template hash verifies', () => {
  for (const name of ['ast-valid.txt', 'measurements.txt', 'ima-log-sha1.txt', 'ima-log-sha256.txt']) {
    const { columns } = parseLogColumns(read(name));
    assert.equal(columns.templateHashAlg, 'sha1', name);
    assert.equal(columns.length, lines(name).length, name);
    assert.deepEqual(templateHashFailures(columns), [], name);
  }
});

test('the sha1 bank replays to the chain of the logged template hashes (Keylime test_iterative_attestation)', () => {
  let pcr = Buffer.alloc(20);
  for (const l of lines('measurements.txt')) {
    pcr = createHash('sha1')
      .update(pcr)
      .update(Buffer.from(l.split(' ')[1]!, 'hex'))
      .digest();
  }
  const r = replayColumns(parseLogColumns(read('measurements.txt')).columns, { bank: 'sha1' });
  assert.equal(Buffer.from(r.pcr).toString('hex'), pcr.toString('hex'));
  assert.equal(r.templateHashMismatches.length, 0);
});

test("Keylime's must-not-pass line (signature bytes changed, template hash kept) fails IMA_TEMPLATE_HASH_MISMATCH", () => {
  const { columns } = parseLogColumns(read('must-not-pass.txt'));
  const f = templateHashFailures(columns);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.code, 'IMA_TEMPLATE_HASH_MISMATCH');
  assert.equal(f[0]!.index, 0);
  assert.equal(f[0]!.path, '/usr/bin/zmore');
  assert.equal(replayColumns(columns, { bank: 'sha1' }).templateHashMismatches.length, 1);
});

test('a digest rewritten to another value fails at that entry, whichever PCR the entry names', () => {
  const text = new TextDecoder().decode(read('measurements.txt'));
  const [l0, l1, ...rest] = text.split('\n');
  const forged = [l0, l1!.replace('sha256:f1125b94', 'sha256:00000000'), ...rest].join('\n');
  const f = templateHashFailures(parseLogColumns(new TextEncoder().encode(forged)).columns);
  assert.deepEqual(
    f.map((x) => [x.index, x.code]),
    [[1, 'IMA_TEMPLATE_HASH_MISMATCH']],
  );
  const otherPcr = forged.replace(/^10 /, '11 ');
  assert.equal(templateHashFailures(parseLogColumns(new TextEncoder().encode(otherPcr)).columns).length, 1);
});

test("Keylime's invalid entries are refused with a code each", () => {
  const expected = [
    'IMA_TEMPLATE_UNKNOWN',
    'IMA_ASCII_MALFORMED',
    'IMA_ASCII_MALFORMED',
    'IMA_ASCII_MALFORMED',
  ];
  const got = lines('ast-invalid.txt').map((l) => {
    try {
      parseAsciiColumns(new TextEncoder().encode(`${l}\n`));
      return 'parsed';
    } catch (err) {
      assert.ok(err instanceof ImaParseError);
      return err.code;
    }
  });
  assert.deepEqual(got, expected);
});

test('per-bank lists (ascii and binary _sha256) are detected from the template hash width and replay alike', () => {
  const sha1 = parseLogColumns(read('measurements.txt')).columns;
  const want = Buffer.from(replayColumns(sha1).pcr).toString('hex');
  for (const name of ['measurements_sha256.txt', 'measurements_sha256.bin']) {
    const { columns } = parseLogColumns(read(name));
    assert.equal(columns.templateHashAlg, 'sha256', name);
    assert.equal(columns.entry(0).templateHash.length, 32);
    const r = replayColumns(columns); // the sha256 bank: the logged hashes are its digests, all checked
    assert.equal(Buffer.from(r.pcr).toString('hex'), want, name);
    assert.equal(r.templateHashMismatches.length, 0, name);
    assert.deepEqual(templateHashFailures(columns), [], name);
    // The sha1 bank of a per-bank sha256 list: recomputed, and its hashes still checked when asked.
    assert.equal(
      Buffer.from(replayColumns(columns, { bank: 'sha1' }).pcr).toString('hex'),
      Buffer.from(replayColumns(sha1, { bank: 'sha1' }).pcr).toString('hex'),
    );
    assert.equal(
      replayColumns(columns, { bank: 'sha1', checkTemplateHash: true }).templateHashMismatches.length,
      0,
    );
  }
});

test('a per-bank binary list with one template hash byte changed fails that entry', () => {
  const bin = read('measurements_sha256.bin');
  const bad = bin.slice();
  bad[4] = bad[4]! ^ 1; // first byte of entry 0's SHA-256 template hash
  const { columns } = parseLogColumns(bad);
  assert.deepEqual(
    templateHashFailures(columns).map((f) => f.index),
    [0],
  );
  assert.equal(replayColumns(columns).templateHashMismatches.length, 1);
});

test('a list that does not fit the template hash algorithm asked for says what it looks like', () => {
  for (const [name, form] of [
    ['measurements_sha256.txt', 'ascii_runtime_measurements_sha256'],
    ['measurements_sha256.bin', 'binary_runtime_measurements_sha256'],
    ['measurements.txt', 'ascii_runtime_measurements'],
  ] as const) {
    const alg = name === 'measurements.txt' ? 'sha256' : 'sha1';
    assert.throws(
      () => parseLogColumns(read(name), { templateHashAlg: alg }),
      (err: unknown) =>
        err instanceof ImaParseError &&
        err.code === 'IMA_TEMPLATE_HASH_ALG_MISMATCH' &&
        err.message.includes(`looks like ${form}`),
      name,
    );
  }
  // Lines of two lists joined: the width changes at the first foreign line.
  const mixed = new Uint8Array([...read('measurements.txt'), ...read('measurements_sha256.txt')]);
  assert.throws(
    () => parseLogColumns(mixed),
    (err: unknown) =>
      err instanceof ImaParseError && err.code === 'IMA_TEMPLATE_HASH_ALG_MISMATCH' && err.entryIndex === 5,
  );
});
