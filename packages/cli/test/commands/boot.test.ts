import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

const vectors = new URL('../../../core/test/vectors/boot/', import.meta.url);
const log = new URL('event-moklisttrusted.bin', vectors).pathname;
const expected = JSON.parse(readFileSync(new URL('expected.json', vectors), 'utf8'))[
  'event-moklisttrusted.bin'
];
const dir = mkdtempSync(join(tmpdir(), 'tmb-boot-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string) => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const quoted: Record<string, string> = {};
for (let i = 0; i <= 9; i++) quoted[i] = expected.pcrs.sha256[i] ?? '00'.repeat(32);
const pcrs = file('pcrs.json', JSON.stringify(quoted));

test('tmb boot replay prints the PCRs tpm2_eventlog printed and the Secure Boot state', async () => {
  const io = capture();
  assert.equal(await main(['boot', 'replay', log, '--json'], io), 0, io.err);
  const out = JSON.parse(io.out);
  assert.equal(out.events, 96);
  assert.equal(out.secureBoot, true);
  for (const [i, hex] of Object.entries(expected.pcrs.sha256 as Record<string, string>))
    assert.equal(out.pcrs.sha256[i], hex);
  const text = capture();
  assert.equal(await main(['boot', 'replay', log], text), 0);
  assert.match(text.out, /^events: 96\n/);
  assert.match(text.out, /secure boot: enabled\n/);
});

test('tmb boot appraise passes against the right PCRs and fails, exit 1, against others or a policy', async () => {
  const ok = capture();
  assert.equal(await main(['boot', 'appraise', log, '--pcrs', pcrs], ok), 0, ok.out + ok.err);
  assert.match(ok.out, /^host\.boot pass: 96 boot events replay/);
  const wrong = file('wrong.json', JSON.stringify({ ...quoted, 4: 'ab'.repeat(32) }));
  const bad = capture();
  assert.equal(await main(['boot', 'appraise', log, '--pcrs', wrong], bad), 1);
  assert.match(bad.out, /^host\.boot fail BOOT_PCR_MISMATCH: sha256 PCR 4:/);
  const policy = file('policy.json', JSON.stringify({ version: 1, bootApplications: [] }));
  const p = capture();
  assert.equal(await main(['boot', 'appraise', log, '--pcrs', pcrs, '--policy', policy, '--json'], p), 1);
  assert.equal(JSON.parse(p.out).check.code, 'BOOT_POLICY_APPLICATION_NOT_ALLOWED');
  const invalid = capture();
  assert.equal(
    await main(
      ['boot', 'appraise', log, '--pcrs', pcrs, '--policy', file('p2.json', '{"version":9}')],
      invalid,
    ),
    1,
  );
  assert.match(invalid.err, /BOOT_POLICY_INVALID/);
});

test('tmb boot replay of a log that does not parse names the code and offset, exit 1', async () => {
  const io = capture();
  assert.equal(await main(['boot', 'replay', new URL('event-uefivar.bin', vectors).pathname], io), 1);
  assert.match(io.err, /^tmb boot: BOOT_DIGEST_COUNT_MISMATCH: TCG_PCR_EVENT2\.digests\.count at byte 85/);
});
