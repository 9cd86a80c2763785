import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ParseError } from '@tmb/core';
import {
  appraiseBootLog,
  BootAlg,
  bootFacts,
  EFI_GLOBAL_VARIABLE,
  EventType,
  MAX_BOOT_LOG_BYTES,
  measuredEvent,
  parseEventLog,
  specIdFor,
  writeEventLog,
} from '@tmb/core/boot';

// Every malformed log names its code and the byte offset of the bad field. The good log has a
// sha1+sha256 Spec ID header (bytes 0-68: TCG_PCR_EVENT header 32, Spec ID data 37) and one
// EV_SEPARATOR at byte 69: pcrIndex 69, eventType 73, digests.count 77, sha1 alg 81 + digest 83,
// sha256 alg 103 + digest 105, eventSize 137, data 141-144.

const spec = specIdFor([BootAlg.SHA1, BootAlg.SHA256]);
const sep = measuredEvent(spec, 4, EventType.EV_SEPARATOR, new Uint8Array(4));
const good = writeEventLog({ specId: spec, events: [sep] });
const E = 69;

function patch(at: number, bytes: number[] | Uint8Array, base = good): Uint8Array {
  const b = base.slice();
  b.set(bytes, at);
  return b;
}
const le32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return [...b];
};
const cat = (...p: Uint8Array[]) => new Uint8Array(Buffer.concat(p));

function expectError(bad: Uint8Array, code: string, offset: number, message?: RegExp): void {
  assert.throws(
    () => parseEventLog(bad),
    (err: unknown) => {
      assert.ok(err instanceof ParseError, `expected ParseError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      assert.equal(err.offset, offset, err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

test('the good log parses (the cases below each break one field of it)', () => {
  const log = parseEventLog(good);
  assert.equal(log.events.length, 1);
  assert.equal(log.events[0]!.offset, E);
  assert.equal(log.events[0]!.dataOffset, 141);
  assert.equal(good.length, 145);
});

test('Spec ID header: not crypto-agile, bad signature, digest, algorithm list, sizes', () => {
  expectError(new Uint8Array(), 'TRUNCATED', 0);
  expectError(
    patch(4, le32(EventType.EV_S_CRTM_VERSION)),
    'BOOT_SPEC_ID_INVALID',
    0,
    /not a crypto-agile log/,
  );
  expectError(patch(0, le32(1)), 'BOOT_SPEC_ID_INVALID', 0);
  expectError(patch(10, [1]), 'BOOT_SPEC_ID_INVALID', 8, /digest is not zero/);
  expectError(patch(28, le32(0xffffffff)), 'LENGTH_TOO_LARGE', 32);
  expectError(patch(28, le32(200)), 'TRUNCATED', 32); // under the cap, past the end
  expectError(patch(46, [0x32]), 'BOOT_SPEC_ID_INVALID', 32, /Spec ID Event03/); // "Spec ID Event02"
  expectError(patch(56, le32(0)), 'BOOT_SPEC_ID_INVALID', 56);
  expectError(patch(56, le32(9)), 'BOOT_SPEC_ID_INVALID', 56);
  expectError(patch(66, [20, 0]), 'BOOT_SPEC_ID_INVALID', 64, /sha256 declared with 20 bytes/);
  expectError(patch(64, [0x04, 0x00, 20, 0]), 'BOOT_SPEC_ID_INVALID', 64, /declared twice/);
  expectError(patch(64, [0x12, 0x00, 0, 1]), 'BOOT_SPEC_ID_INVALID', 64, /256 bytes/); // SM3 with 256 bytes
  expectError(patch(68, [1]), 'TRUNCATED', 69); // vendor info past the event's size
  // One byte more in the Spec ID event than its fields use.
  const longer = cat(patch(28, le32(38)).subarray(0, 69), Uint8Array.of(0), good.subarray(69));
  expectError(longer, 'TRAILING_BYTES', 69);
});

test('TCG_PCR_EVENT2: PCR index, digest count, algorithms, event size', () => {
  expectError(patch(E, le32(24)), 'BOOT_PCR_INDEX_INVALID', E);
  expectError(
    patch(E + 8, le32(1)),
    'BOOT_DIGEST_COUNT_MISMATCH',
    E + 8,
    /1 digests, the Spec ID header declares 2/,
  );
  expectError(patch(E + 8, le32(0xffffffff)), 'BOOT_DIGEST_COUNT_MISMATCH', E + 8);
  expectError(patch(E + 12, [0x12, 0x00]), 'BOOT_ALG_UNKNOWN', E + 12, /0x12 is not in the Spec ID header/);
  expectError(patch(E + 12, [0x0c, 0x00]), 'BOOT_ALG_UNKNOWN', E + 12); // sha384: known, not declared
  expectError(patch(E + 34, [0x04, 0x00]), 'BOOT_DIGEST_COUNT_MISMATCH', E + 34, /twice/);
  expectError(patch(E + 68, le32(0xffffffff)), 'LENGTH_TOO_LARGE', E + 72);
  expectError(patch(E + 68, le32(5)), 'TRUNCATED', E + 72);
});

test('unknown event types parse (kept as numbers); unknown algorithms do not', () => {
  const odd = patch(E + 4, le32(0x7fff1234));
  assert.equal(parseEventLog(odd).events[0]!.type, 0x7fff1234);
});

test('a log cut anywhere inside an event is TRUNCATED, never a partial event', () => {
  for (let n = E + 1; n < good.length; n++) {
    assert.throws(
      () => parseEventLog(good.subarray(0, n)),
      (err: unknown) =>
        err instanceof ParseError && err.code === 'TRUNCATED' && err.offset >= E && err.offset <= n,
      `cut at ${n}`,
    );
  }
  for (let n = 1; n < E; n++)
    assert.throws(() => parseEventLog(good.subarray(0, n)), { code: 'TRUNCATED' }, `cut at ${n}`);
});

test('bytes after the last event: a partial header is TRUNCATED, zeros are a bad digest count', () => {
  expectError(cat(good, Uint8Array.of(1, 2, 3)), 'TRUNCATED', good.length);
  expectError(cat(good, new Uint8Array(12)), 'BOOT_DIGEST_COUNT_MISMATCH', good.length + 8);
});

test('a log over the cap is refused before anything is read', () => {
  expectError(new Uint8Array(MAX_BOOT_LOG_BYTES + 1), 'LENGTH_TOO_LARGE', 0);
});

test('a malformed UEFI variable is BOOT_EVENT_MALFORMED at its offset, and fails host.boot as BOOT_LOG_MALFORMED', () => {
  const guid = new Uint8Array(16);
  const bigName = cat(guid, Uint8Array.from([...le32(0xffffffff), ...le32(0)]), new Uint8Array(8));
  const ev = measuredEvent(spec, 7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, bigName);
  const log = writeEventLog({ specId: spec, events: [ev] });
  assert.throws(
    () => bootFacts(parseEventLog(log)),
    (err: unknown) =>
      err instanceof ParseError && err.code === 'BOOT_EVENT_MALFORMED' && err.offset === 141 + 16,
  );
  const a = appraiseBootLog({ log, pcrs: new Map(), policy: null });
  assert.equal(a.check.code, 'BOOT_LOG_MALFORMED');
  assert.match(a.check.detail, /BOOT_EVENT_MALFORMED UEFI_VARIABLE_DATA\.UnicodeNameLength at byte 157/);

  // A signature list whose size runs past the variable.
  const name = new Uint8Array([...'PK'].flatMap((c) => [c.charCodeAt(0), 0]));
  const list = cat(new Uint8Array(16), Uint8Array.from([...le32(4000), ...le32(0), ...le32(48)]));
  const pkGuid = Uint8Array.from([
    0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c,
  ]);
  const lengths = new Uint8Array(16);
  new DataView(lengths.buffer).setBigUint64(0, 2n, true);
  new DataView(lengths.buffer).setBigUint64(8, BigInt(list.length), true);
  const pk = measuredEvent(
    spec,
    7,
    EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
    cat(pkGuid, lengths, name, list),
  );
  assert.equal(EFI_GLOBAL_VARIABLE, '8be4df61-93ca-11d2-aa0d-00e098032b8c');
  assert.throws(
    () => bootFacts(parseEventLog(writeEventLog({ specId: spec, events: [pk] }))),
    (err: unknown) =>
      err instanceof ParseError &&
      err.code === 'BOOT_EVENT_MALFORMED' &&
      err.offset === 141 + 36 &&
      /SignatureListSize/.test(err.message),
  );
});
