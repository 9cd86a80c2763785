import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

const vectors = new URL('../../../core/test/vectors/tpm/', import.meta.url).pathname;
const v = (kind: string, file: string) => join(vectors, kind, file);
const nonce = (kind: string) => readFileSync(v(kind, 'quote1.nonce'), 'utf8').trim();
const args = (kind: string, ak = 'ak.pub') => [
  'tpm',
  'checkquote',
  ...['--ak-pub', v(kind, ak), '--message', v(kind, 'quote1.msg'), '--signature', v(kind, 'quote1.sig')],
  ...['--pcrs', v(kind, 'quote1.pcrs'), '--qualifying-data', nonce(kind)],
];

const tmp = mkdtempSync(join(tmpdir(), 'tmb-cli-tpm-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('checkquote: a tpm2_quote quote verifies (TPM2B_PUBLIC or PEM AK), exit 0, JSON shape', async () => {
  for (const kind of ['ecc256', 'rsassa']) {
    for (const ak of ['ak.pub', 'ak.pem']) {
      const io = capture();
      assert.equal(await main([...args(kind, ak), '--json'], io), 0, io.err);
      const out = JSON.parse(io.out) as { ok: boolean; checks: { name: string; status: string }[] };
      assert.deepEqual(Object.keys(out), ['ok', 'checks']);
      assert.equal(out.ok, true);
      assert.ok(out.checks.some((c) => c.name === 'tpm.quote.signature' && c.status === 'pass'));
    }
  }
  const io = capture();
  assert.equal(await main(args('ecc384'), io), 0);
  assert.match(io.out, /^quote verifies$/m);
});

test('checkquote: another nonce or a tampered message exits 1 naming the failure', async () => {
  const io = capture();
  const wrong = args('ecc256');
  wrong[wrong.length - 1] = '00'.repeat(32);
  assert.equal(await main([...wrong, '--json'], io), 1);
  const out = JSON.parse(io.out) as { ok: boolean; checks: { code?: string }[] };
  assert.equal(out.ok, false);
  assert.deepEqual(
    out.checks.filter((c) => c.code).map((c) => c.code),
    ['QUOTE_NONCE_MISMATCH'],
  );
  const msg = readFileSync(v('ecc256', 'quote1.msg'));
  msg[msg.length - 1]! ^= 1;
  writeFileSync(join(tmp, 'bad.msg'), msg);
  const bad = args('ecc256');
  bad[bad.indexOf('--message') + 1] = join(tmp, 'bad.msg');
  const io2 = capture();
  assert.equal(await main(bad, io2), 1);
  assert.match(io2.out, /QUOTE_SIGNATURE_INVALID/);
  assert.match(io2.out, /quote does NOT verify/);
});

test('checkquote: agrees with tpm2_checkquote on the same files', async () => {
  const msg = readFileSync(v('rsassa', 'quote1.msg'));
  msg[90]! ^= 1; // restartCount
  writeFileSync(join(tmp, 'rsa.msg'), msg);
  for (const message of [v('rsassa', 'quote1.msg'), join(tmp, 'rsa.msg')]) {
    const a = args('rsassa');
    a[a.indexOf('--message') + 1] = message;
    const ours = await main(a, capture());
    const theirs = spawnSync(
      'tpm2_checkquote',
      ['-u', v('rsassa', 'ak.pub'), '-m', message, '-s', v('rsassa', 'quote1.sig')].concat([
        '-f',
        v('rsassa', 'quote1.pcrs'),
        '-q',
        nonce('rsassa'),
      ]),
      { timeout: 10_000 },
    );
    assert.equal(theirs.error, undefined);
    assert.equal(ours === 0, theirs.status === 0, message);
  }
});

test('checkquote: missing flags, bad hex or an unreadable file exit 2', async () => {
  const io = capture();
  assert.equal(await main(['tpm', 'checkquote', '--message', 'x'], io), 2);
  assert.match(io.err, /--ak-pub is required/);
  const hex = args('ecc256');
  hex[hex.length - 1] = 'xyz';
  assert.equal(await main(hex, capture()), 2);
  const missing = args('ecc256');
  missing[missing.indexOf('--signature') + 1] = join(tmp, 'nope.sig');
  const io3 = capture();
  assert.equal(await main(missing, io3), 2);
  assert.match(io3.err, /nope\.sig/);
  assert.equal(await main(['tpm', 'frobnicate'], capture()), 2);
});

test('tmb tpm swtpm: manufactures and starts an swtpm, prints its TCTI, stops it on SIGTERM', async () => {
  const { spawn } = await import('node:child_process');
  const cli = new URL('../../src/main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, 'tpm', 'swtpm', '--state', join(tmp, 'swtpm')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.once('exit', () => reject(new Error('exited before printing')));
  });
  const info = JSON.parse(line) as { tcti: string; pid: number };
  assert.match(info.tcti, /^swtpm:host=127\.0\.0\.1,port=\d+$/);
  const cap = spawnSync('tpm2_getcap', ['-T', info.tcti, 'handles-persistent'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.match(cap.stdout, /0x81010001/);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.throws(() => process.kill(info.pid, 0), { code: 'ESRCH' });
});
