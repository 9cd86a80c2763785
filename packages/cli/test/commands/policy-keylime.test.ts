import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildEntry, encodeBinaryLog } from '@tmb/core/ima';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

// Keylime parity at the command line: signed policies (--policy-key, --unsigned-ok), the
// violation rule, ima.log_hash_alg, legacy allowlists and `tmb policy convert`.

const dir = mkdtempSync(join(tmpdir(), 'tmb-policy-keylime-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const keylimeVector = (name: string) =>
  readFileSync(new URL(`../../../core/test/vectors/ima-policy/keylime/${name}`, import.meta.url), 'utf8');

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);
const log = file(
  'log.bin',
  encodeBinaryLog([
    buildEntry({ digest: fill(32, 1), path: 'boot_aggregate' }, 0),
    buildEntry({ digest: fill(32, 2), path: '/usr/bin/bash' }, 1),
    buildEntry({ digest: fill(32, 0), path: '/etc/motd', violation: true }, 2),
  ]),
);
const policy = (alg = 'sha1') =>
  JSON.stringify({
    meta: { version: 1, generator: 0 },
    release: 0,
    digests: { boot_aggregate: ['01'.repeat(32)], '/usr/bin/bash': ['02'.repeat(32)] },
    excludes: ['/var/log/.*'],
    keyrings: {},
    ima: { ignored_keyrings: [], log_hash_alg: alg, dm_policy: null },
    'ima-buf': {},
    'verification-keys': '',
  });
const plain = file('policy.json', policy());
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const priv = file('priv.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
const pub = file('pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);

async function run(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, out: io.out, err: io.err };
}

test('tmb policy sign, then check and ima appraise verify it with --policy-key; without a key it is refused', async () => {
  const signed = join(dir, 'signed.json');
  assert.equal((await run(['policy', 'sign', plain, '--key', priv, '--out', signed])).code, 0);
  assert.equal(JSON.parse(readFileSync(signed, 'utf8')).payloadType, 'application/vnd.keylime+json');
  const checked = await run(['policy', 'check', signed, '--policy-key', pub, '--json']);
  assert.equal(checked.code, 0, checked.err);
  assert.deepEqual(
    { ...JSON.parse(checked.out), keyid: null },
    {
      signed: true,
      verified: true,
      keyid: null,
      digests: 2,
      excludes: 1,
      keyrings: 0,
      imaBuf: 0,
      logHashAlg: 'sha1',
    },
  );
  const noKey = await run(['policy', 'check', signed]);
  assert.equal(noKey.code, 1);
  assert.match(noKey.err, /IMA_POLICY_KEY_REQUIRED: .*--policy-key FILE.*--unsigned-ok/);
  const noKeyJson = await run(['policy', 'check', signed, '--json']);
  assert.equal(JSON.parse(noKeyJson.out).error.code, 'IMA_POLICY_KEY_REQUIRED');
  const unverified = await run(['policy', 'check', signed, '--unsigned-ok']);
  assert.match(unverified.out, /signed, NOT verified/);
  assert.equal((await run(['ima', 'appraise', log, '--policy', signed, '--policy-key', pub])).code, 0);
  const refused = await run(['ima', 'appraise', log, '--policy', signed]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /IMA_POLICY_KEY_REQUIRED/);
  const otherKey = file(
    'other.pem',
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    }) as string,
  );
  assert.match(
    (await run(['ima', 'appraise', log, '--policy', signed, '--policy-key', otherKey])).err,
    /IMA_POLICY_SIGNATURE_INVALID/,
  );
  assert.match((await run(['policy', 'check', plain, '--policy-key', pub])).err, /IMA_POLICY_NOT_SIGNED/);
});

test("Keylime's signed vector: its signature verifies, then the prefixed digest inside is named", async () => {
  const signed = file('keylime-signed.json', keylimeVector('runtime-policy-test-signed.json'));
  const key = file('keylime.pub', keylimeVector('runtime-policy-pubkey.pub'));
  const r = await run(['policy', 'check', signed, '--policy-key', key]);
  assert.equal(r.code, 1);
  assert.match(r.err, /IMA_POLICY_INVALID: .*boot_aggregate.*algorithm prefix "sha256:"/);
});

test('tmb ima appraise: violations pass as with Keylime unless --violations says otherwise; log_hash_alg is checked', async () => {
  const keylime = await run(['ima', 'appraise', log, '--policy', plain, '--json']);
  assert.equal(keylime.code, 0, keylime.out + keylime.err);
  assert.equal(JSON.parse(keylime.out).violations, 1);
  assert.equal((await run(['ima', 'appraise', log, '--policy', plain, '--allow-violations'])).code, 0);
  const strict = await run(['ima', 'appraise', log, '--policy', plain, '--violations', 'unless-excluded']);
  assert.equal(strict.code, 1);
  assert.match(strict.out, /#2 .*IMA_VIOLATION \/etc\/motd/);
  assert.equal((await run(['ima', 'appraise', log, '--policy', plain, '--violations', 'sometimes'])).code, 2);
  const sha256 = file('policy256.json', policy('sha256'));
  const mismatch = await run(['ima', 'appraise', log, '--policy', sha256]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.out, /#0 .*IMA_LOG_HASH_ALG_MISMATCH boot_aggregate/);
});

test('a legacy allowlist is named, and tmb policy convert turns it into a policy', async () => {
  const allowlist = file('allowlist.txt', keylimeVector('ima-allowlist-short.txt'));
  const named = await run(['policy', 'check', allowlist]);
  assert.equal(named.code, 1);
  assert.match(named.err, /IMA_POLICY_LEGACY_ALLOWLIST: .*tmb policy convert/);
  assert.match(
    (await run(['ima', 'appraise', log, '--policy', allowlist])).err,
    /IMA_POLICY_LEGACY_ALLOWLIST/,
  );
  const excludes = file('excludes.txt', '# comment\n/tmp/.*\n\n/var/log/.*\n');
  const out = join(dir, 'converted.json');
  assert.equal(
    (await run(['policy', 'convert', '--allowlist', allowlist, '--excludelist', excludes, '--out', out]))
      .code,
    0,
  );
  const converted = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(converted.excludes, ['/tmp/.*', '/var/log/.*']);
  assert.equal(converted.meta.generator, 3);
  assert.equal((await run(['policy', 'check', out])).code, 0);
});

test('tmb policy SUBCOMMAND --help prints the usage', async () => {
  const r = await run(['policy', 'create', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.out, /--policy-key FILE/);
});
