import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError, utf8 } from '@tmb/core';
import {
  appraiseBootLog,
  BootAlg,
  EventType,
  measuredEvent,
  parseBootPolicy,
  specIdFor,
  writeEventLog,
} from '@tmb/core/boot';
import { CERT, EFI_GLOBAL_VARIABLE_NAME, sampleBoot, samplePolicy, variable } from './sample.ts';

const policy = (over: Record<string, unknown> = {}) => parseBootPolicy({ ...samplePolicy(), ...over });
const appraise = (b: ReturnType<typeof sampleBoot>, p = policy()) =>
  appraiseBootLog({ log: b.log, pcrs: b.pcrs, policy: p });
function fails(b: ReturnType<typeof sampleBoot>, code: string, detail: RegExp, p = policy()) {
  const a = appraise(b, p);
  assert.equal(a.check.name, 'host.boot');
  assert.equal(a.check.status, 'fail');
  assert.equal(a.check.code, code, a.check.detail);
  assert.match(a.check.detail, detail);
  return a;
}

test('a boot that replays to the quote and meets the policy passes, naming Secure Boot; without a policy too', () => {
  const b = sampleBoot();
  const a = appraise(b);
  assert.equal(a.check.status, 'pass', a.check.detail);
  assert.deepEqual([a.secureBoot, a.simulated, a.events], [true, false, 17]);
  assert.match(
    a.check.detail,
    /replay to the quoted sha256 PCRs 0-9; the measured-boot policy holds; Secure Boot enabled$/,
  );
  const none = appraiseBootLog({ log: b.log, pcrs: b.pcrs, policy: null });
  assert.equal(none.check.status, 'pass');
  assert.match(none.check.detail, /no measured-boot policy/);
});

test('the simulated firmware marker is named in the detail and in `simulated`', () => {
  const a = appraise(sampleBoot({ simulated: true }));
  assert.equal(a.check.status, 'pass');
  assert.equal(a.simulated, true);
  assert.match(a.check.detail, /Secure Boot enabled, simulated firmware/);
});

test('a StartupLocality 3 event starts PCR 0 at 00..03', () => {
  const b = sampleBoot({ locality: 3 });
  assert.equal(appraise(b).check.status, 'pass');
  const zero = sampleBoot();
  assert.notDeepEqual(b.pcrs.get(0), zero.pcrs.get(0));
  fails({ log: b.log, pcrs: zero.pcrs }, 'BOOT_PCR_MISMATCH', /^sha256 PCR 0: /);
});

test('no log, a malformed log, a log without sha256, a quote without PCRs 0-9', () => {
  const absent = appraiseBootLog({ log: null, pcrs: new Map(), policy: null });
  assert.deepEqual(
    [absent.check.status, absent.check.code, absent.secureBoot, absent.events],
    ['fail', 'BOOT_LOG_ABSENT', null, 0],
  );
  const b = sampleBoot();
  fails(
    { log: b.log.subarray(0, b.log.length - 3), pcrs: b.pcrs },
    'BOOT_LOG_MALFORMED',
    /TRUNCATED TCG_PCR_EVENT2\.event at byte \d+/,
  );
  const sha1 = specIdFor([BootAlg.SHA1]);
  const sha1Log = writeEventLog({
    specId: sha1,
    events: [measuredEvent(sha1, 0, EventType.EV_SEPARATOR, new Uint8Array(4))],
  });
  fails({ log: sha1Log, pcrs: b.pcrs }, 'BOOT_LOG_MALFORMED', /no sha256 bank/);
  const short = new Map(b.pcrs);
  short.delete(5);
  fails({ log: b.log, pcrs: short }, 'BOOT_PCR_NOT_QUOTED', /PCR 5/);
});

test('a PCR extended outside the log is BOOT_PCR_MISMATCH naming it', () => {
  const b = sampleBoot();
  const pcrs = new Map(b.pcrs);
  pcrs.set(8, new Uint8Array(32).fill(1));
  const a = fails(
    { log: b.log, pcrs },
    'BOOT_PCR_MISMATCH',
    /^sha256 PCR 8: the boot log replays to [0-9a-f]{64}, the quote has 0101/,
  );
  assert.equal(a.secureBoot, true, 'Secure Boot state is still reported');
});

test('event data edited while its digest is kept (replay still matches) is BOOT_EVENT_DIGEST_MISMATCH', () => {
  // The firmware measured SecureBoot=0; a root process rewrites the data byte to 1 in the log it sends.
  const forged = sampleBoot({
    secureBoot: 0,
    edit: (ev) => {
      ev[1] = { ...ev[1]!, data: variable(EFI_GLOBAL_VARIABLE_NAME, 'SecureBoot', Uint8Array.of(1)) };
    },
  });
  fails(
    forged,
    'BOOT_EVENT_DIGEST_MISMATCH',
    /event 1 \(EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7, byte \d+\): data does not hash/,
  );
  const cmdline = sampleBoot({
    edit: (ev) => {
      const last = ev[ev.length - 1]!;
      ev[ev.length - 1] = {
        ...last,
        data: utf8('kernel_cmdline: /vmlinuz root=/dev/sda1 ro quiet\0'.replace('quiet', 'init=/x')),
      };
    },
  });
  fails(cmdline, 'BOOT_EVENT_DIGEST_MISMATCH', /"kernel_cmdline:" text does not hash/);
});

test('each policy rule fails with its code', () => {
  fails(
    sampleBoot({ secureBoot: 0 }),
    'BOOT_SECURE_BOOT_DISABLED',
    /requires Secure Boot.*Secure Boot disabled/,
  );
  fails(sampleBoot({ secureBoot: null }), 'BOOT_SECURE_BOOT_DISABLED', /Secure Boot not logged/);
  assert.equal(appraise(sampleBoot({ secureBoot: 0 }), policy({ secureBoot: false })).check.status, 'pass');
  fails(
    sampleBoot({ db: [CERT.db, CERT.other] }),
    'BOOT_POLICY_VARIABLE_NOT_ALLOWED',
    /^db holds x509-sha256:/,
  );
  fails(
    sampleBoot(),
    'BOOT_POLICY_DBX_INCOMPLETE',
    /dbx lacks 1 required entries, first sha256:0{64}/,
    policy({ dbx: [`sha256:${'0'.repeat(64)}`] }),
  );
  fails(
    sampleBoot(),
    'BOOT_POLICY_APPLICATION_NOT_ALLOWED',
    /boot application sha256:/,
    policy({ bootApplications: [] }),
  );
  fails(sampleBoot(), 'BOOT_POLICY_FILE_NOT_ALLOWED', /"\/vmlinuz" \(sha256:/, policy({ bootFiles: [] }));
  fails(
    sampleBoot({ cmdline: '/vmlinuz root=/dev/sda1 ro init=/bin/sh' }),
    'BOOT_POLICY_CMDLINE_NOT_ALLOWED',
    /init=\/bin\/sh/,
  );
  fails(sampleBoot({ cmdline: null }), 'BOOT_POLICY_CMDLINE_NOT_ALLOWED', /the log has none/);
  // Expressions are anchored: a prefix match is not enough.
  fails(
    sampleBoot({ cmdline: `${'/vmlinuz root=/dev/sda1 ro quiet'} extra` }),
    'BOOT_POLICY_CMDLINE_NOT_ALLOWED',
    /extra/,
  );
});

test('a policy member left out is not checked', () => {
  const b = sampleBoot({ db: [CERT.other], cmdline: null });
  assert.equal(appraise(b, parseBootPolicy({ version: 1, secureBoot: true })).check.status, 'pass');
});

test('policies that are not v1 JSON of the documented shape are BOOT_POLICY_INVALID naming the member', () => {
  const bad: [unknown, RegExp][] = [
    ['{', /not JSON/],
    [[], /\(top\)/],
    [{ version: 2 }, /version/],
    [{ version: 1, secureboot: true }, /secureboot: unknown member/],
    [{ version: 1, secureBoot: 'yes' }, /secureBoot/],
    [{ version: 1, db: ['x509-sha256:ABC'] }, /db\[0\]/],
    [{ version: 1, bootApplications: 'sha256:00' }, /bootApplications: expected an array/],
    [{ version: 1, kernelCmdline: ['('] }, /kernelCmdline\[0\]: not a regular expression/],
  ];
  for (const [input, message] of bad)
    assert.throws(
      () => parseBootPolicy(input),
      (err: unknown) =>
        err instanceof CoreError && err.code === 'BOOT_POLICY_INVALID' && message.test(err.message),
      JSON.stringify(input),
    );
});

test('a policy given as JSON is parsed on the way; a bad one fails host.boot as BOOT_POLICY_INVALID, never throws', () => {
  const b = sampleBoot();
  const json = samplePolicy() as unknown as Parameters<typeof appraiseBootLog>[0]['policy'];
  assert.equal(appraiseBootLog({ ...b, policy: json }).check.status, 'pass');
  const bad = appraiseBootLog({ ...b, policy: { version: 2 } as never });
  assert.deepEqual([bad.check.status, bad.check.code], ['fail', 'BOOT_POLICY_INVALID']);
});

test('Secure Boot state extended into PCR 7 after its separator does not count (root can extend PCR 7 after boot)', () => {
  // The firmware booted with SecureBoot=0; root later extends PCR 7 with a well-formed SecureBoot=1
  // event and appends it to the log: replay matches, the digest matches its data.
  const late = sampleBoot({
    secureBoot: 0,
    edit: (ev) => {
      ev.push(
        measuredEvent(
          specIdFor([BootAlg.SHA256]),
          7,
          EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
          variable(EFI_GLOBAL_VARIABLE_NAME, 'SecureBoot', Uint8Array.of(1)),
        ),
      );
    },
  });
  const a = fails(late, 'BOOT_SECURE_BOOT_DISABLED', /Secure Boot disabled/);
  assert.equal(a.secureBoot, false);
  const none = sampleBoot({
    secureBoot: null,
    edit: (ev) => {
      ev.push(
        measuredEvent(
          specIdFor([BootAlg.SHA256]),
          7,
          EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
          variable(EFI_GLOBAL_VARIABLE_NAME, 'SecureBoot', Uint8Array.of(1)),
        ),
      );
    },
  });
  fails(none, 'BOOT_SECURE_BOOT_DISABLED', /Secure Boot not logged/);
});
