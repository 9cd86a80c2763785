import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fromHex, ParseError, sha256, toHex } from '@tmb/core';
import {
  appraiseBootLog,
  bootAggregate,
  bootFacts,
  parseEventLog,
  replayEventLog,
  startupLocality,
} from '@tmb/core/boot';

// Real TCG2 logs from tpm2-tools and the PCR values tpm2_eventlog printed for them:
// ../vectors/boot/README.md says where each comes from.
const dir = new URL('../vectors/boot/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
type Expected = { events: number; secureBoot: boolean | null; pcrs: Record<string, Record<string, string>> };
const expected: Record<string, Expected> = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8'));

/** Quoted sha256 PCRs 0-9 as a machine with this log would report them (unextended PCRs are zero). */
function quotedPcrs(e: Expected): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (let i = 0; i <= 9; i++) {
    const hex = e.pcrs.sha256?.[i];
    m.set(i, hex === undefined ? new Uint8Array(32) : fromHex(hex));
  }
  return m;
}

for (const [name, e] of Object.entries(expected)) {
  test(`${name}: every bank replays to the PCRs tpm2_eventlog printed`, () => {
    const log = parseEventLog(read(name));
    assert.equal(log.events.length, e.events);
    const replayed = replayEventLog(log);
    assert.deepEqual([...replayed.keys()].sort(), Object.keys(e.pcrs).sort());
    for (const [bank, pcrs] of Object.entries(e.pcrs)) {
      const got = replayed.get(bank as 'sha256')!;
      for (const [i, hex] of Object.entries(pcrs))
        assert.equal(toHex(got.get(Number(i))!), hex, `${bank} PCR ${i}`);
      // PCRs 0-9 the log never extends stay at their reset value.
      for (let i = 0; i <= 9; i++)
        if (pcrs[i] === undefined)
          assert.ok(
            got.get(i)!.every((b) => b === 0),
            `${bank} PCR ${i} untouched`,
          );
    }
    assert.equal(bootFacts(log).secureBoot, e.secureBoot);
  });
}

test('a real log appraised against the PCRs its machine would quote passes, naming Secure Boot', () => {
  const e = expected['event-moklisttrusted.bin']!;
  const a = appraiseBootLog({ log: read('event-moklisttrusted.bin'), pcrs: quotedPcrs(e), policy: null });
  assert.equal(a.check.status, 'pass', a.check.detail);
  assert.deepEqual([a.secureBoot, a.simulated, a.events], [true, false, 96]);
  assert.match(a.check.detail, /Secure Boot enabled/);
  assert.doesNotMatch(a.check.detail, /simulated/);
});

test('the real logs decode what a policy reads: Secure Boot keys, boot applications, grub files and the kernel command line', () => {
  const f = bootFacts(parseEventLog(read('event-gce-ubuntu-2104-log.bin')));
  assert.deepEqual(Object.keys(f.keys).sort(), ['KEK', 'PK', 'db', 'dbx']);
  assert.ok(
    f.keys.db!.some((id) => id.startsWith('x509-sha256:')),
    'db holds X.509 certificates',
  );
  assert.ok(f.keys.dbx!.every((id) => /^(sha256|x509-sha256|[0-9a-f-]{36}-sha256):[0-9a-f]{64}$/.test(id)));
  assert.equal(f.applications.length, 2); // shim, grub
  assert.equal(f.cmdlines.length, 1);
  assert.match(f.cmdlines[0]!, /^\/boot\/vmlinuz-5\.11\.0-1008-gcp root=PARTUUID=\S+ ro .*ima_hash=sha256/);
  assert.ok(f.files.some((x) => x.path === '(hd0,gpt15)/EFI/ubuntu/grub.cfg'));
  assert.equal(f.digestMismatch, null);
  assert.equal(f.crtmVersion !== null && f.crtmVersion.length > 0, true);
});

test('tpm2-tools fixtures that break the format are refused with the named code and offset', () => {
  const cases: [string, string, number][] = [
    ['event-uefi-sha1-log.bin', 'BOOT_SPEC_ID_INVALID', 0],
    ['event-uefivar.bin', 'BOOT_DIGEST_COUNT_MISMATCH', 85],
    ['event-uefiaction.bin', 'BOOT_DIGEST_COUNT_MISMATCH', 85],
    ['specid-vendordata.bin', 'TRUNCATED', 69],
  ];
  for (const [name, code, offset] of cases)
    assert.throws(
      () => parseEventLog(read(name)),
      (err: unknown) => err instanceof ParseError && err.code === code && err.offset === offset,
      name,
    );
});

test('bootAggregate is SHA-256 over sha256 PCRs 0-9 in index order; a missing PCR is BOOT_PCR_NOT_QUOTED', () => {
  const pcrs = quotedPcrs(expected['event-gce-ubuntu-2104-log.bin']!);
  const order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => pcrs.get(i)!);
  assert.deepEqual(bootAggregate(pcrs), sha256(...order));
  // A PCR 10 or a different insertion order changes nothing.
  const shuffled = new Map([...pcrs].reverse());
  shuffled.set(10, new Uint8Array(32).fill(9));
  assert.deepEqual(bootAggregate(shuffled), sha256(...order));
  pcrs.delete(7);
  assert.throws(() => bootAggregate(pcrs), { code: 'BOOT_PCR_NOT_QUOTED' });
  pcrs.set(7, new Uint8Array(20));
  assert.throws(() => bootAggregate(pcrs), { code: 'BOOT_PCR_NOT_QUOTED' });
});

test("go-eventlog-glinux-alex.bin: StartupLocality 3 starts PCR 0 at 00..03; both banks replay to go-eventlog's values", () => {
  const all: Record<string, Expected & { startupLocality: number }> = JSON.parse(
    readFileSync(new URL('expected-go-eventlog.json', dir), 'utf8'),
  );
  const e = all['go-eventlog-glinux-alex.bin']!;
  const log = parseEventLog(read('go-eventlog-glinux-alex.bin'));
  assert.equal(
    log.events.map(startupLocality).find((x) => x !== null),
    e.startupLocality,
  );
  const replayed = replayEventLog(log);
  for (const [bank, pcrs] of Object.entries(e.pcrs))
    for (const [i, hex] of Object.entries(pcrs))
      assert.equal(toHex(replayed.get(bank as 'sha256')!.get(Number(i))!), hex, `${bank} PCR ${i}`);
  assert.equal(bootFacts(log).secureBoot, e.secureBoot);
  const quoted = new Map([...replayed.get('sha256')!].filter(([i]) => i <= 9));
  assert.equal(
    appraiseBootLog({ log: read('go-eventlog-glinux-alex.bin'), pcrs: quoted, policy: null }).check.status,
    'pass',
  );
});
