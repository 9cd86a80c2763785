import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateBinary } from '../../../../scripts/ima-gen.ts';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

const dir = mkdtempSync(join(tmpdir(), 'tmb-policy-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const opts = { entries: 500, seed: 3 };
const bin = file('log.bin', generateBinary(opts));

test('policy create writes a Keylime v1 policy that allows the log, and honours --exclude', async () => {
  const out = join(dir, 'created.json');
  assert.equal(
    await main(['policy', 'create', '--from-log', bin, '--exclude', '/usr/.*', '--out', out], capture()),
    0,
  );
  const p = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(Object.keys(p), [
    'meta',
    'release',
    'digests',
    'excludes',
    'keyrings',
    'ima',
    'ima-buf',
    'verification-keys',
  ]);
  assert.equal(p.meta.version, 1);
  assert.deepEqual(p.excludes, ['/usr/.*']);
  assert.ok(Object.keys(p.digests).every((k) => !k.startsWith('/usr/')));
  const io = capture();
  assert.equal(await main(['policy', 'create', '--from-log', join(dir, 'missing.bin')], io), 2);
  assert.equal(await main(['policy', 'create'], capture()), 2);
});

test('policy diff: identical policies exit 0, different ones list the changes and exit 1', async () => {
  const p1 = join(dir, 'p1.json');
  const p2 = join(dir, 'p2.json');
  await main(['policy', 'create', '--from-log', bin, '--out', p1], capture());
  await main(
    [
      'policy',
      'create',
      '--from-log',
      file('l2.bin', generateBinary({ ...opts, entries: 501 })),
      '--out',
      p2,
    ],
    capture(),
  );
  assert.equal(await main(['policy', 'diff', p1, p1], capture()), 0);
  const io = capture();
  assert.equal(await main(['policy', 'diff', p1, p2], io), 1);
  assert.match(io.out, /^\+ (digests|keyrings|ima-buf) \S+ [0-9a-f]+\n$/);
  const bad = capture();
  assert.equal(await main(['policy', 'diff', p1, bin], bad), 1);
  assert.match(bad.err, /IMA_POLICY_INVALID/);
});
