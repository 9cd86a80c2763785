import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { concat, digest, type HashName, ParseError, utf8 } from '@tmb/core';
import {
  appraiseBootLog,
  BootAlg,
  type EventInput,
  EventType,
  noActionEvent,
  parseEventLog,
  replayEventLog,
  specIdFor,
  writeEventLog,
} from '@tmb/core/boot';
import fc from 'fast-check';

const ALGS: [number, HashName, number][] = [
  [BootAlg.SHA1, 'sha1', 20],
  [BootAlg.SHA256, 'sha256', 32],
  [BootAlg.SHA384, 'sha384', 48],
  [BootAlg.SHA512, 'sha512', 64],
];
const dir = new URL('../vectors/boot/', import.meta.url);
const real = new Uint8Array(readFileSync(new URL('event-gce-ubuntu-2104-log.bin', dir)));

const onlyParseErrors = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
};
const noPcrs = new Map<number, Uint8Array>();

/** A random log: a subset of banks (sha256 always), then events with digests of the right sizes. */
const arbLog = fc
  .subarray([0, 2, 3], { minLength: 0 })
  .chain((extra) => {
    const banks = [ALGS[1]!, ...extra.map((i) => ALGS[i]!)];
    const spec = specIdFor(banks.map(([alg]) => alg));
    const event: fc.Arbitrary<EventInput> = fc.record({
      pcr: fc.integer({ min: 0, max: 23 }),
      type: fc.oneof(fc.constantFrom(...Object.values(EventType)), fc.integer({ min: 0, max: 0xffffffff })),
      digests: fc.tuple(
        ...banks.map(([alg, , size]) =>
          fc.uint8Array({ minLength: size, maxLength: size }).map((digest) => ({ alg, digest })),
        ),
      ),
      data: fc.uint8Array({ maxLength: 64 }),
    });
    return fc.record({
      specId: fc.constant(spec),
      locality: fc.option(fc.integer({ min: 0, max: 4 })),
      events: fc.array(event, { maxLength: 30 }),
    });
  })
  .map(({ specId, locality, events }) => ({
    specId,
    locality,
    events:
      locality === null
        ? events
        : [noActionEvent(specId, 0, concat(utf8('StartupLocality\0'), Uint8Array.of(locality))), ...events],
  }));

test('random bytes only ever parse or throw ParseError; appraisal of them never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      onlyParseErrors(() => parseEventLog(bytes));
      assert.equal(appraiseBootLog({ log: bytes, pcrs: noPcrs, policy: null }).check.status, 'fail');
    }),
  );
});

test('a real log with random bytes changed only ever parses or throws ParseError; appraisal never throws', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: real.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat({ max: real.length }),
      (edits, cut) => {
        const b = real.slice(0, Math.max(cut, 1));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        onlyParseErrors(() => parseEventLog(b));
        appraiseBootLog({ log: b, pcrs: noPcrs, policy: null });
      },
    ),
    { numRuns: 300 },
  );
});

test('write then parse gives the same log back; parse then write gives the same bytes', () => {
  fc.assert(
    fc.property(arbLog, ({ specId, events }) => {
      const bytes = writeEventLog({ specId, events });
      const log = parseEventLog(bytes);
      assert.deepEqual(log.specId, specId);
      assert.deepEqual(
        log.events.map(({ offset: _o, dataOffset: _d, ...e }) => e),
        events.map((e) => ({ ...e })), // fast-check's records have a null prototype
      );
      assert.deepEqual(writeEventLog(log), bytes);
    }),
  );
  assert.deepEqual(writeEventLog(parseEventLog(real)), real, 'a real log re-encodes to its own bytes');
});

test('replay of a generated log equals folding its extends, bank by bank', () => {
  fc.assert(
    fc.property(arbLog, ({ specId, locality, events }) => {
      const replayed = replayEventLog(parseEventLog(writeEventLog({ specId, events })));
      for (const { alg } of specId.algorithms) {
        const [, name, size] = ALGS.find(([a]) => a === alg)!;
        const pcrs = new Map<number, Uint8Array>();
        for (let i = 0; i < 24; i++) pcrs.set(i, new Uint8Array(size));
        if (locality !== null) pcrs.get(0)![size - 1] = locality;
        for (const e of events) {
          if (e.type === EventType.EV_NO_ACTION) continue;
          pcrs.set(e.pcr, digest(name, pcrs.get(e.pcr)!, e.digests.find((d) => d.alg === alg)!.digest));
        }
        const got = replayed.get(name)!;
        for (const [i, v] of got) assert.deepEqual(v, pcrs.get(i), `${name} PCR ${i}`);
        for (let i = 0; i <= 9; i++) assert.ok(got.has(i));
      }
    }),
  );
});
