import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256, toHex } from '@tmb/core';
import { appraiseBootLog, bootFacts, parseBootPolicy, parseEventLog, replayEventLog } from '@tmb/core/boot';
import { SIMULATED_BOOT, simulatedBootPolicy, simulateFirmware } from '@tmb/demo';

/** An in-memory sha256 PCR bank that records every extend. */
function bank() {
  const pcrs = new Map<number, Uint8Array>();
  for (let i = 0; i < 24; i++) pcrs.set(i, new Uint8Array(32));
  const calls: number[] = [];
  const extend = async (pcr: number, d: Uint8Array) => {
    assert.equal(d.length, 32);
    calls.push(pcr);
    pcrs.set(pcr, sha256(pcrs.get(pcr)!, d));
  };
  return { pcrs, calls, extend };
}

test('the simulated firmware extends what its log says: replay equals the PCR bank, PCRs 0-9', async () => {
  const b = bank();
  const log = await simulateFirmware(b.extend);
  const parsed = parseEventLog(log);
  const replayed = replayEventLog(parsed).get('sha256')!;
  for (let i = 0; i <= 9; i++) assert.deepEqual(replayed.get(i), b.pcrs.get(i), `PCR ${i}`);
  assert.deepEqual(
    b.calls,
    parsed.events.filter((e) => e.type !== 3).map((e) => e.pcr),
    'one extend per extended event, in log order',
  );
  for (const pcr of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) assert.ok(b.calls.includes(pcr), `PCR ${pcr} measured`);
  assert.deepEqual(parsed.specId.algorithms, [{ alg: 0x000b, size: 32 }]);
});

test('its boot is labelled simulated, has Secure Boot on and meets simulatedBootPolicy', async () => {
  const b = bank();
  const log = await simulateFirmware(b.extend);
  const a = appraiseBootLog({ log, pcrs: b.pcrs, policy: parseBootPolicy(simulatedBootPolicy()) });
  assert.equal(a.check.status, 'pass', a.check.detail);
  assert.equal(a.simulated, true);
  assert.equal(a.secureBoot, true);
  assert.match(a.check.detail, /simulated firmware/);
  const f = bootFacts(parseEventLog(log));
  assert.deepEqual(f.cmdlines, [SIMULATED_BOOT.cmdline]);
  assert.deepEqual(
    f.files.map((x) => x.path),
    [SIMULATED_BOOT.kernelPath, SIMULATED_BOOT.initrdPath],
  );
  assert.equal(f.applications[1], `sha256:${toHex(sha256(SIMULATED_BOOT.kernel))}`);
});

test('every boot gives the same log and PCRs (a reboot replays the same values)', async () => {
  const one = bank();
  const two = bank();
  assert.deepEqual(await simulateFirmware(one.extend), await simulateFirmware(two.extend));
  assert.deepEqual(one.pcrs, two.pcrs);
});
