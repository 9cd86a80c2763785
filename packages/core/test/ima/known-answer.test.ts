import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  buildEntry,
  detectForm,
  encodeBinaryLog,
  extendPcr,
  formatAsciiLog,
  parseAsciiLog,
  parseBinaryLog,
  parseLog,
  pcrInitialValue,
  replay,
} from '@tmb/core/ima';
import { generateAscii, generateBinary } from '../../../../scripts/ima-gen.ts';

// Entries are built here byte by byte from the kernel's layout (ima_fs.c, ima_crypto.c), and
// every hash is computed here with node:crypto, independently of the code under test.

const H = (alg: string, ...parts: Uint8Array[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const str = (s: string) => new TextEncoder().encode(s);
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

/** An ima-ng entry, binary: returns its bytes and its template data. */
function imaNg(alg: string, digest: Uint8Array, path: string, template = 'ima-ng', extra?: Uint8Array) {
  const d = cat(str(`${alg}:`), Uint8Array.of(0), digest);
  const n = cat(str(path), Uint8Array.of(0));
  const data = cat(
    u32(d.length),
    d,
    u32(n.length),
    n,
    ...(extra === undefined ? [] : [u32(extra.length), extra]),
  );
  const th = H('sha1', data);
  return { bytes: cat(u32(10), th, u32(template.length), str(template), u32(data.length), data), data, th };
}

/** A legacy ima entry: hashed over digest || name padded to 256 bytes. */
function imaLegacy(digest: Uint8Array, path: string) {
  const padded = new Uint8Array(256);
  padded.set(str(path));
  const input = cat(digest, padded);
  const th = H('sha1', input);
  return {
    bytes: cat(u32(10), th, u32(3), str('ima'), digest, u32(path.length), str(path)),
    data: input,
    th,
  };
}

const E = [
  imaNg('sha256', fill(32, 0xaa), 'boot_aggregate'),
  imaNg('sha1', fill(20, 0x11), '/usr/bin/bash'),
  imaLegacy(fill(20, 0x22), '/usr/lib64/libc.so.6'),
  imaNg('sha512', fill(64, 0x33), '/opt/models/λ/model.gguf', 'ima-sig', Uint8Array.of(3, 2, 1)),
  imaNg('sha384', fill(48, 0x44), '.ima', 'ima-buf', Uint8Array.of(0x30, 0x82, 1, 2)),
];
// A violation: zero template hash, extended as all 0xFF.
const vData = cat(
  u32(8 + 32),
  str('sha256:'),
  Uint8Array.of(0),
  fill(32, 0),
  u32(11),
  str('/tmp/x.log'),
  Uint8Array.of(0),
);
const violation = cat(u32(10), fill(20, 0), u32(6), str('ima-ng'), u32(vData.length), vData);
const log = cat(...E.map((e) => e.bytes), violation);

function expected(bank: 'sha1' | 'sha256'): Uint8Array {
  let pcr: Uint8Array = new Uint8Array(bank === 'sha1' ? 20 : 32);
  for (const e of E) pcr = H(bank, pcr, H(bank, e.data));
  return H(bank, pcr, fill(bank === 'sha1' ? 20 : 32, 0xff));
}

test('hand-built binary log replays to independently computed sha1 and sha256 PCR 10 values', () => {
  const entries = parseBinaryLog(log);
  assert.equal(entries.length, 6);
  assert.deepEqual(replay(entries, { bank: 'sha1' }).pcr, expected('sha1'));
  assert.deepEqual(replay(entries, { bank: 'sha256' }).pcr, expected('sha256'));
  // The sha1 bank's per-entry digest is the logged template hash.
  for (let i = 0; i < E.length; i++) assert.deepEqual(entries[i]!.templateHash, E[i]!.th);
  assert.equal(replay(entries, { bank: 'sha256', checkTemplateHash: true }).templateHashMismatches.length, 0);
});

test('parsed fields match what was written: templates, algorithms, digests, UTF-8 paths, extra fields', () => {
  const [boot, bash, libc, sig, key, viol] = parseBinaryLog(log);
  assert.deepEqual([boot!.template, boot!.digestAlg, boot!.path], ['ima-ng', 'sha256', 'boot_aggregate']);
  assert.equal(bash!.digest, '11'.repeat(20));
  assert.deepEqual([libc!.template, libc!.digestAlg, libc!.path], ['ima', 'sha1', '/usr/lib64/libc.so.6']);
  assert.deepEqual(
    [sig!.digestAlg, sig!.path, [...sig!.extra!]],
    ['sha512', '/opt/models/λ/model.gguf', [3, 2, 1]],
  );
  assert.deepEqual(
    [key!.template, key!.digestAlg, key!.path, key!.extra!.length],
    ['ima-buf', 'sha384', '.ima', 4],
  );
  assert.equal(viol!.violation, true);
  assert.equal(sig!.offset, E[0]!.bytes.length + E[1]!.bytes.length + E[2]!.bytes.length);
});

test('the ASCII form of the same log replays to the same values and formats back byte for byte', () => {
  const entries = parseBinaryLog(log);
  const ascii = formatAsciiLog(entries);
  assert.match(ascii.split('\n')[2]!, /^10 [0-9a-f]{40} ima 2{40} \/usr\/lib64\/libc\.so\.6$/);
  const fromAscii = parseAsciiLog(str(ascii));
  for (const bank of ['sha1', 'sha256'] as const) {
    assert.deepEqual(replay(fromAscii, { bank }).pcr, expected(bank));
  }
  assert.deepEqual(encodeBinaryLog(fromAscii), log);
  assert.equal(formatAsciiLog(fromAscii), ascii);
});

test('buildEntry writes the same bytes as the kernel layout built by hand', () => {
  const built = buildEntry({
    digestAlg: 'sha512',
    digest: fill(64, 0x33),
    path: '/opt/models/λ/model.gguf',
    template: 'ima-sig',
    extra: Uint8Array.of(3, 2, 1),
  });
  assert.deepEqual(encodeBinaryLog([built]), E[3]!.bytes);
  assert.deepEqual(
    encodeBinaryLog([buildEntry({ template: 'ima', digest: fill(20, 0x22), path: '/usr/lib64/libc.so.6' })]),
    E[2]!.bytes,
  );
});

test('a generated mixed log replays to the same value from its binary and its ASCII form', () => {
  const options = { entries: 3000, seed: 42 };
  const bin = generateBinary(options);
  const asc = str(generateAscii(options));
  const a = parseLog(bin);
  const b = parseLog(asc);
  assert.equal(a.form, 'binary');
  assert.equal(b.form, 'ascii');
  assert.equal(a.entries.length, 3000);
  assert.deepEqual(
    new Set(a.entries.map((e) => e.template)),
    new Set(['ima', 'ima-ng', 'ima-sig', 'ima-buf']),
  );
  assert.ok(a.entries.some((e) => e.violation));
  for (const bank of ['sha1', 'sha256'] as const) {
    const ra = replay(a.entries, { bank, checkTemplateHash: true });
    assert.deepEqual(ra.pcr, replay(b.entries, { bank }).pcr);
    assert.equal(ra.templateHashMismatches.length, 0);
  }
});

test('entries of other PCRs are not folded into PCR 10', () => {
  const other = buildEntry({ pcr: 11, digest: fill(32, 9), path: '/x' });
  const entries = [...parseBinaryLog(log), other];
  const r = replay(entries, { bank: 'sha256' });
  assert.deepEqual(r.pcr, expected('sha256'));
  assert.equal(r.folded, 6);
  assert.equal(r.total, 7);
});

test('replay with a quoted value reports the shortest prefix that reaches it', () => {
  const entries = parseBinaryLog(log);
  const after3 = replay(entries.slice(0, 3), { bank: 'sha256' }).pcr;
  const r = replay(entries, { bank: 'sha256', quoted: after3 });
  assert.equal(r.matchedAfter, 3);
  assert.deepEqual(r.matchedValue, after3);
  assert.equal(replay(entries, { bank: 'sha256', quoted: fill(32, 1) }).matchedAfter, null);
});

test('a tampered path is caught: the sha1 template hash no longer matches, the sha256 value changes', () => {
  const bad = log.slice();
  const at = Buffer.from(bad).indexOf('/usr/bin/bash');
  bad[at + 5] = 0x63; // "/usr/cin/bash"
  const entries = parseBinaryLog(bad);
  assert.deepEqual(
    replay(entries, { bank: 'sha1' }).templateHashMismatches.map((e) => e.index),
    [1],
  );
  assert.notDeepEqual(replay(entries, { bank: 'sha256' }).pcr, expected('sha256'));
});

test('PCRs 17 to 22 start at all ones, the others at zero; extendPcr is H(old || digest)', () => {
  assert.deepEqual(pcrInitialValue(10, 'sha256'), new Uint8Array(32));
  assert.deepEqual(pcrInitialValue(17, 'sha1'), fill(20, 0xff));
  assert.deepEqual(pcrInitialValue(23, 'sha256'), new Uint8Array(32));
  assert.deepEqual(
    extendPcr('sha256', new Uint8Array(32), fill(32, 1)),
    H('sha256', new Uint8Array(32), fill(32, 1)),
  );
});

test('detectForm: binary starts with a PCR index below 24, ASCII with a digit or a space', () => {
  assert.equal(detectForm(log), 'binary');
  assert.equal(detectForm(str(' 9 ')), 'ascii');
  assert.equal(detectForm(str('10 ')), 'ascii');
  assert.equal(detectForm(new Uint8Array(0)), 'binary');
  assert.deepEqual(parseLog(new Uint8Array(0)).entries, []);
});
