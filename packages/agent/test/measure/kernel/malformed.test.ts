import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { concat } from '@tmb/core';
import fc from 'fast-check';
import { frameEntries, parseMeasurementCount } from '../../../src/measure/kernel/frame.ts';
import { KernelLog } from '../../../src/measure/kernel/reader.ts';
import { entryBytes, FakeSecurityfs } from './fixtures.ts';

// Adversarial securityfs inputs: each is a named error (KERNEL_LOG_MALFORMED), never a crash,
// and never a reader that waits (and buffers) forever for bytes a length field promises.

const le32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const header = (nameLen: number) => concat(le32(10), new Uint8Array(20).fill(7), le32(nameLen));

const cases: [string, Uint8Array, RegExp][] = [
  [
    'template name length 4 GiB',
    header(0xffffffff),
    /template name length at byte 208: 4294967295 over the cap of 64/,
  ],
  ['template name length 65', concat(header(65), new Uint8Array(65)), /template name length/],
  [
    'template data length over 1 MiB',
    concat(header(6), new TextEncoder().encode('ima-ng'), le32((1 << 20) + 1)),
    /template data length at byte 218: 1048577 over the cap/,
  ],
  [
    'legacy ima name length over 255',
    concat(header(3), new TextEncoder().encode('ima'), new Uint8Array(20), le32(256)),
    /n length at byte 235: 256 over the cap of 255/,
  ],
  [
    'unknown template (lengths fine): core names it',
    concat(header(4), new TextEncoder().encode('nope'), le32(0)),
    /IMA_TEMPLATE_UNKNOWN/,
  ],
  [
    'ima-ng data whose fields overrun it',
    concat(header(6), new TextEncoder().encode('ima-ng'), le32(4), le32(99)),
    /IMA_FIELD_MALFORMED/,
  ],
  ['PCR 99', concat(le32(99), entryBytes('/x').subarray(4)), /IMA_PCR_INDEX_INVALID/],
];

for (const [what, bad, message] of cases)
  test(`frameEntries: ${what} is KERNEL_LOG_MALFORMED after the good entries`, () => {
    const good = concat(entryBytes('/ok/1'), entryBytes('/ok/2'));
    const f = frameEntries(concat(good, bad, entryBytes('/after')), 5);
    assert.equal(f.ends.length, 2);
    assert.equal(f.ends[1], good.length);
    assert.equal(f.error?.code, 'KERNEL_LOG_MALFORMED');
    assert.match(f.error?.message ?? '', message);
    assert.match(f.error?.message ?? '', /entry 7/);
  });

test('frameEntries: truncations at every byte are incomplete, not errors', () => {
  const e = concat(entryBytes('/a'), entryBytes('/bb'));
  const first = entryBytes('/a').length;
  for (let cut = 0; cut < e.length; cut++) {
    const f = frameEntries(e.subarray(0, cut), 0);
    assert.equal(f.error, null, `cut at ${cut}`);
    assert.deepEqual(f.ends, cut < first ? [] : [first]);
  }
});

test('runtime_measurements_count: decimal only', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parseMeasurementCount(enc('1234\n')), 1234);
  assert.equal(parseMeasurementCount(enc('0')), 0);
  for (const bad of ['', '\n', '-1\n', '12a\n', '1e3', '0x10', '9999999999999999', '1 2'])
    assert.throws(() => parseMeasurementCount(enc(bad)), { code: 'KERNEL_LOG_MALFORMED' }, bad);
});

test('a reader over a malformed log keeps the entries before it, names the error, and never throws', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-kernel-malformed-'));
  const fs = await new FakeSecurityfs(dir).create();
  const log = new KernelLog({ securityfs: dir });
  try {
    await fs.append(concat(entryBytes('/good'), header(0x7fffffff)), 2);
    const r = await log.read();
    assert.equal(r.added, 1);
    assert.equal(log.error?.code, 'KERNEL_LOG_MALFORMED');
    await fs.append(entryBytes('/later'), 1);
    assert.equal((await log.read()).added, 0, 'the log stops at the bad entry');
    assert.equal(log.count, 1);
    assert.deepEqual(await log.entriesFrom(0), entryBytes('/good'));
    // A count file that is not a count: named, not a crash.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'ima', 'runtime_measurements_count'), 'lots\n');
    await assert.rejects(log.measuredCount(), { code: 'KERNEL_LOG_MALFORMED' });
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('property: random bytes only ever frame into increasing in-bounds ends or a named error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(1000), (bytes, first) => {
      const f = frameEntries(bytes, first);
      let prev = 0;
      for (const end of f.ends) {
        assert.ok(end > prev && end <= bytes.length);
        prev = end;
      }
      assert.ok(f.error === null || f.error.code === 'KERNEL_LOG_MALFORMED');
    }),
    { numRuns: 2000 },
  );
});

test('property: a valid log cut anywhere frames exactly the entries that end before the cut', () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^\/[a-z0-9/._-]{1,40}$/), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      (names, cutSeed) => {
        const entries = names.map((p) => entryBytes(p));
        const all = concat(...entries);
        const cut = cutSeed % (all.length + 1);
        const ends: number[] = [];
        let at = 0;
        for (const e of entries) {
          at += e.length;
          if (at <= cut) ends.push(at);
        }
        const f = frameEntries(all.subarray(0, cut), 0);
        assert.equal(f.error, null);
        assert.deepEqual(f.ends, ends);
      },
    ),
    { numRuns: 300 },
  );
});
