import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ImaParseError } from '@tmb/core/ima';
import { readLog } from '../../src/commands/ima.ts';
import { InputTooLargeError } from '../../src/input.ts';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

// `tmb ima` on Keylime's vectors (packages/core/test/vectors/ima/keylime/README.md) and on
// inputs that must fail fast: template hashes checked by appraise, per-bank lists, streaming
// with a cap, edited text files, names that are not UTF-8.

const V = new URL('../../../core/test/vectors/ima/keylime/', import.meta.url);
const vec = (name: string) => new URL(name, V).pathname;
const dir = mkdtempSync(join(tmpdir(), 'tmb-ima-parity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const policy = JSON.parse(readFileSync(vec('runtime-policy-test.json'), 'utf8'));
const measurements = readFileSync(vec('measurements.txt'), 'utf8');
const USB = '/lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko';
const OTHER = 'ab'.repeat(32);

test('appraise: an entry whose digest was rewritten to another allowed digest fails IMA_TEMPLATE_HASH_MISMATCH there', async () => {
  // The policy allows both digests for the path, so only the template hash can catch it.
  const both = structuredClone(policy);
  both.digests[USB].push(OTHER);
  const pol = file('both.json', JSON.stringify(both));
  const honest = capture();
  assert.equal(await main(['ima', 'appraise', vec('measurements.txt'), '--policy', pol], honest), 0);
  const forged = file('forged.txt', measurements.replace(both.digests[USB][0], OTHER));
  const io = capture();
  assert.equal(await main(['ima', 'appraise', forged, '--policy', pol, '--json'], io), 1);
  const a = JSON.parse(io.out);
  assert.deepEqual(
    a.failures.map((f: { index: number; code: string; path: string }) => [f.index, f.code, f.path]),
    [[1, 'IMA_TEMPLATE_HASH_MISMATCH', USB]],
  );
  assert.deepEqual([a.entries, a.passed, a.excluded], [5, 4, 0]);
});

test("appraise: Keylime's must-not-pass line fails even when its path is allowed or excluded", async () => {
  for (const excludes of [[], ['/usr/bin/zmore']]) {
    const pol = file('p.json', JSON.stringify({ ...policy, excludes }));
    const io = capture();
    assert.equal(await main(['ima', 'appraise', vec('must-not-pass.txt'), '--policy', pol], io), 1);
    assert.match(io.out, /^#0 @0 IMA_TEMPLATE_HASH_MISMATCH \/usr\/bin\/zmore /);
    assert.match(io.out, /1 entries: 0 allowed, 0 excluded, 1 failed/);
  }
});

test('replay and appraise read the per-bank lists; a wrong --template-hash-alg says which list it is', async () => {
  const want = capture();
  await main(['ima', 'replay', vec('measurements.txt'), '--json'], want);
  for (const name of ['measurements_sha256.txt', 'measurements_sha256.bin']) {
    const io = capture();
    assert.equal(await main(['ima', 'replay', vec(name), '--json'], io), 0, io.err);
    assert.deepEqual(JSON.parse(io.out), JSON.parse(want.out));
    // Keylime reads the template hash algorithm from the policy (ima.log_hash_alg).
    const pol = file('p.json', JSON.stringify({ ...policy, ima: { ...policy.ima, log_hash_alg: 'sha256' } }));
    const ok = capture();
    assert.equal(await main(['ima', 'appraise', vec(name), '--policy', pol], ok), 0, ok.out);
    const wrong = capture();
    assert.equal(await main(['ima', 'replay', vec(name), '--template-hash-alg', 'sha1'], wrong), 1);
    assert.match(
      wrong.err,
      /IMA_TEMPLATE_HASH_ALG_MISMATCH .*looks like (ascii|binary)_runtime_measurements_sha256/,
    );
  }
  assert.equal(
    await main(['ima', 'replay', vec('measurements.txt'), '--template-hash-alg', 'md5'], capture()),
    2,
  );
});

test('replay /dev/zero stops at the first entry with a clear error instead of reading forever', async () => {
  const io = capture();
  assert.equal(await main(['ima', 'replay', '/dev/zero'], io), 1);
  assert.match(io.err, /IMA_TEMPLATE_UNKNOWN in entry 0 .*not a binary IMA measurement list/);
  const a = capture();
  const pol = file('p.json', JSON.stringify(policy));
  assert.equal(await main(['ima', 'appraise', '/dev/zero', '--policy', pol], a), 1);
});

test('a 1 GiB list with an error at byte 28 fails at once: only the first chunk is pulled from the source', async () => {
  let pulled = 0;
  let closed = false;
  async function* gib(): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; i < 1024; i++) {
        const chunk = new Uint8Array(1 << 20);
        if (i === 0) {
          const dv = new DataView(chunk.buffer);
          dv.setUint32(0, 10, true);
          chunk.fill(0x11, 4, 24);
          dv.setUint32(24, 6, true);
          chunk.set(new TextEncoder().encode('imx-ng'), 28);
        }
        pulled += chunk.length;
        yield chunk;
      }
    } finally {
      closed = true;
    }
  }
  await assert.rejects(
    readLog(gib(), 'gib', { maxBytes: 2 ** 32 - 1 }),
    (err: unknown) =>
      err instanceof ImaParseError && err.code === 'IMA_TEMPLATE_UNKNOWN' && err.offset === 28,
  );
  assert.equal(pulled, 1 << 20);
  assert.ok(closed, 'the source is closed');
});

test('an endless valid-looking stream stops at --max-bytes', async () => {
  const line = measurements.split('\n')[0]!;
  let pulled = 0;
  async function* endless(): AsyncGenerator<Uint8Array> {
    const chunk = new TextEncoder().encode(`${line}\n`.repeat(400));
    for (;;) {
      pulled += chunk.length;
      yield chunk;
    }
  }
  await assert.rejects(readLog(endless(), 'endless', { maxBytes: 1 << 20 }), InputTooLargeError);
  assert.ok(pulled <= (1 << 20) + 100_000, `${pulled} bytes pulled`);
  const io = capture();
  assert.equal(await main(['ima', 'replay', vec('measurements.txt'), '--max-bytes', '100'], io), 2);
  assert.match(io.err, /larger than 100 bytes/);
});

test('edited text files fail with a code and what is wrong: BOM, lone newline, CRLF, empty file', async () => {
  const line = measurements.split('\n')[0]!;
  const cases: [string, string | Uint8Array, RegExp][] = [
    [
      'bom.txt',
      new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(measurements)]),
      /IMA_ASCII_BOM .*byte-order mark/,
    ],
    ['nl.txt', '\n', /IMA_ASCII_BLANK_LINE .*line 1 is empty \(a lone newline\)/],
    ['crlf.txt', `${line}\r\n`, /IMA_ASCII_CRLF .*line 1 ends in CR LF/],
    ['empty.txt', '', /IMA_LOG_EMPTY .*the file is empty/],
  ];
  for (const [name, data, message] of cases) {
    const io = capture();
    assert.equal(await main(['ima', 'replay', file(name, data)], io), 1, name);
    assert.match(io.err, message, name);
  }
});

test('a name that is not UTF-8: the list reads, text output shows \\xNN, JSON and policy use surrogateescape', async () => {
  const enc = new TextEncoder();
  const { createHash } = await import('node:crypto');
  const name = Uint8Array.of(0x2f, 0x62, 0xff); // "/b" + 0xff
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const digest = Buffer.alloc(32, 7);
  const d = Buffer.concat([Buffer.from('sha256:\0', 'latin1'), digest]);
  const data = Buffer.concat([u32(d.length), d, u32(name.length + 1), name, Buffer.of(0)]);
  const th = createHash('sha1').update(data).digest('hex');
  const lines = [
    measurements.split('\n')[0]!,
    Buffer.concat([enc.encode(`10 ${th} ima-ng sha256:${digest.toString('hex')} `), name]),
  ];
  const log = file(
    'raw.txt',
    Buffer.concat([Buffer.from(`${lines[0]}\n`), lines[1] as Buffer, Buffer.from('\n')]),
  );
  const strict = capture();
  assert.equal(await main(['ima', 'replay', log], strict), 0, strict.err);
  // A policy written by Python tooling names the file "/b\udcff" (json.dumps of a surrogateescape'd str).
  const pol = JSON.stringify({ ...policy, digests: { ...policy.digests } }).replace(
    '"digests": {',
    '"digests": {',
  );
  const p = JSON.parse(pol);
  p.digests['/b\udcff'] = [digest.toString('hex')];
  const pf = file('raw-policy.json', JSON.stringify(p));
  assert.match(readFileSync(pf, 'utf8'), /\\udcff/);
  assert.equal(await main(['ima', 'appraise', log, '--policy', pf], capture()), 0);
  // Not in the policy: the failure names it escaped in text, as \udcff in JSON.
  delete p.digests['/b\udcff'];
  writeFileSync(pf, JSON.stringify(p));
  const text = capture();
  assert.equal(await main(['ima', 'appraise', log, '--policy', pf], text), 1);
  assert.match(text.out, /^#1 @\d+ IMA_FILE_NOT_IN_POLICY \/b\\xff /m);
  const json = capture();
  await main(['ima', 'appraise', log, '--policy', pf, '--json'], json);
  assert.match(json.out, /"path":"\/b\\udcff"/);
});
