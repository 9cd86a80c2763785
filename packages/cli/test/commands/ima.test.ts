import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateAscii, generateBinary } from '../../../../scripts/ima-gen.ts';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

const dir = mkdtempSync(join(tmpdir(), 'tmb-ima-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const opts = { entries: 500, seed: 3 };
const bin = file('log.bin', generateBinary(opts));
const txt = file('log.txt', generateAscii(opts));

test('tmb ima replay reads both forms and prints the same PCR; --json has bank, pcr, entries', async () => {
  const a = capture();
  const b = capture();
  assert.equal(await main(['ima', 'replay', bin, '--json'], a), 0);
  assert.equal(await main(['ima', 'replay', txt, '--json'], b), 0);
  const ja = JSON.parse(a.out);
  assert.deepEqual(Object.keys(ja), ['bank', 'pcr', 'entries']);
  assert.equal(ja.bank, 'sha256');
  assert.equal(ja.entries, 500);
  assert.match(ja.pcr, /^[0-9a-f]{64}$/);
  assert.deepEqual(JSON.parse(b.out), ja);
  const s1 = capture();
  assert.equal(await main(['ima', 'replay', txt, '--bank', 'sha1'], s1), 0);
  assert.match(s1.out, /^PCR 10 \(sha1\): [0-9a-f]{40}\nentries: 500 /);
});

test('tmb ima replay on the sha1 bank matches a replay of the logged template hashes done here', async () => {
  let pcr = Buffer.alloc(20);
  for (const line of readFileSync(txt, 'utf8').trim().split('\n')) {
    const th = line.split(' ')[1]!;
    const d = /^0{40}$/.test(th) ? Buffer.alloc(20, 0xff) : Buffer.from(th, 'hex');
    pcr = createHash('sha1').update(pcr).update(d).digest();
  }
  const io = capture();
  await main(['ima', 'replay', bin, '--bank', 'sha1', '--json'], io);
  assert.equal(JSON.parse(io.out).pcr, pcr.toString('hex'));
});

test('a malformed log exits 1 naming the code, entry and offset; a bad flag exits 2', async () => {
  const bad = file('bad.bin', generateBinary(opts).subarray(0, 1000));
  const io = capture();
  assert.equal(await main(['ima', 'replay', bad], io), 1);
  assert.match(io.err, /(TRUNCATED|LENGTH_TOO_LARGE) in entry \d+ \(starting at byte \d+\)/);
  assert.equal(await main(['ima', 'replay', bin, '--bank', 'md5'], capture()), 2);
  assert.equal(await main(['ima', 'frob'], capture()), 2);
});

test('policy create -> ima appraise passes; a log with more entries lists each failing one', async () => {
  const policy = join(dir, 'policy.json');
  const excludes = [
    '--exclude',
    '/var/log/.*',
    '--exclude',
    '/tmp/.*',
    '--exclude',
    '/var/lib/rsyslog/.*',
    '--exclude',
    '/run/.*',
  ];
  assert.equal(
    await main(['policy', 'create', '--from-log', txt, ...excludes, '--out', policy], capture()),
    0,
  );
  const ok = capture();
  assert.equal(await main(['ima', 'appraise', bin, '--policy', policy], ok), 0);
  assert.match(ok.out, /^500 entries: \d+ allowed, \d+ excluded, 0 failed\n$/);
  const more = file('more.bin', generateBinary({ ...opts, entries: 520 }));
  const io = capture();
  assert.equal(await main(['ima', 'appraise', more, '--policy', policy], io), 1);
  const lines = io.out.trim().split('\n');
  assert.match(
    lines[0]!,
    /^#5\d\d @\d+ IMA_(FILE_NOT_IN_POLICY|BUF_NOT_ALLOWED|KEYRING_NOT_ALLOWED|DIGEST_NOT_ALLOWED) \S+ sha\d+:[0-9a-f]+: /,
  );
  const json = capture();
  await main(['ima', 'appraise', more, '--policy', policy, '--json'], json);
  const a = JSON.parse(json.out);
  assert.equal(a.failures.length, lines.length - 1);
  assert.ok(a.failures.every((f: { index: number }) => f.index >= 500));
});

test('tmb ima replay of the committed vectors prints the independently computed values', async () => {
  const vectors = new URL('../../../core/test/vectors/ima/', import.meta.url).pathname;
  const expected = JSON.parse(readFileSync(join(vectors, 'expected.json'), 'utf8'));
  for (const name of ['mixed-200.bin', 'mixed-200.txt']) {
    for (const bank of ['sha1', 'sha256']) {
      const io = capture();
      assert.equal(await main(['ima', 'replay', join(vectors, name), '--bank', bank, '--json'], io), 0);
      assert.deepEqual(JSON.parse(io.out), { bank, pcr: expected[bank], entries: expected.entries });
    }
  }
});
