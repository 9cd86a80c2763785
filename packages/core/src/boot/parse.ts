import { Cursor } from '../bytes/cursor.ts';
import { HASH_SIZE } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { hashName } from '../tpm/alg.ts';
import type { BootEvent, EventDigest, EventLog, SpecId, SpecIdAlgorithm } from './types.ts';
import { EventType } from './types.ts';

// Hand-written: no maintained JavaScript library parses the TCG2 event log (the tools that do,
// tpm2-tools and go-eventlog, are C and Go), and core keeps zero runtime dependencies. Every field
// is attacker-controlled: root on the host chooses the bytes the agent sends.

/** The largest event log read (real logs are 20-100 KiB; the agent sends at most 1 MiB). */
export const MAX_BOOT_LOG_BYTES = 4 * 1024 * 1024;
/** The largest event data read: a dbx or MokList variable is tens of KiB. */
export const MAX_EVENT_DATA_BYTES = 1024 * 1024;
/** Banks a Spec ID header may declare (sha1, sha256, sha384, sha512, sm3 and sha3: at most 8). */
const MAX_ALGORITHMS = 8;
/** TPMU_HA's largest member (SHA-512). */
const MAX_DIGEST_SIZE = 64;
/** PC Client TPMs have 24 PCRs (PFP 3.3.4). */
const MAX_PCR = 23;
/** "Spec ID Event03\0" (PFP 10.4.5.1). */
const SPEC_ID_SIGNATURE = 'Spec ID Event03\0';
/** TCG_EfiSpecIDEventStruct with MAX_ALGORITHMS algorithms and 255 bytes of vendor info. */
const MAX_SPEC_ID_BYTES = 16 + 4 + 4 + 4 + MAX_ALGORITHMS * 4 + 1 + 255;

/**
 * Parses a TCG PC Client crypto-agile event log (PFP 10.2): the SHA-1 format TCG_PCR_EVENT that
 * carries the "Spec ID Event03" header, then TCG_PCR_EVENT2 entries to the last byte. All
 * integers are little-endian (PFP 10.2: "all fields are little-endian").
 *
 * Strict: every event carries exactly one digest per algorithm of the header, no algorithm
 * outside it, PCR indices 0-23, and nothing after the last event.
 *
 * @throws ParseError BOOT_SPEC_ID_INVALID (a SHA-1-only log, or a bad header), BOOT_ALG_UNKNOWN,
 *   BOOT_DIGEST_COUNT_MISMATCH, BOOT_PCR_INDEX_INVALID, TRUNCATED, LENGTH_TOO_LARGE, TRAILING_BYTES
 */
export function parseEventLog(bytes: Uint8Array): EventLog {
  if (bytes.length > MAX_BOOT_LOG_BYTES)
    throw new ParseError(
      'LENGTH_TOO_LARGE',
      'TCG2 event log',
      'log',
      0,
      `${bytes.length} bytes over the cap of ${MAX_BOOT_LOG_BYTES}`,
    );
  const { specId, end } = readSpecIdEvent(bytes);
  const events: BootEvent[] = [];
  let offset = end;
  while (offset < bytes.length) {
    const e = readEvent2(bytes, offset, specId);
    events.push(e.event);
    offset = e.end;
  }
  return { specId, events };
}

function invalid(structure: string, field: string, offset: number, detail: string): ParseError {
  return new ParseError('BOOT_SPEC_ID_INVALID', structure, field, offset, detail);
}

/** PFP 10.2.1 TCG_PCR_EVENT carrying 10.4.5.1 TCG_EfiSpecIDEventStruct. */
function readSpecIdEvent(bytes: Uint8Array): { specId: SpecId; end: number } {
  const c = new Cursor(bytes, 'TCG_PCR_EVENT');
  const pcr = c.u32le('pcrIndex');
  const type = c.u32le('eventType');
  if (pcr !== 0 || type !== EventType.EV_NO_ACTION)
    throw invalid(
      'TCG_PCR_EVENT',
      'eventType',
      0,
      `first event is PCR ${pcr} type 0x${type.toString(16)}, not the EV_NO_ACTION Spec ID event: not a crypto-agile log`,
    );
  const digestAt = c.offset;
  if (c.take(20, 'digest').some((b) => b !== 0))
    throw invalid('TCG_PCR_EVENT', 'digest', digestAt, 'Spec ID event digest is not zero');
  const size = c.u32le('eventSize');
  c.sized(size, MAX_SPEC_ID_BYTES, 'event');
  const end = c.offset;

  // A cursor over exactly the event data, with offsets counted from the log's start.
  const s = new Cursor(bytes.subarray(0, end), 'TCG_EfiSpecIDEvent', end - size);
  const sigAt = s.offset;
  const signature = new TextDecoder('latin1').decode(s.take(16, 'signature'));
  if (signature !== SPEC_ID_SIGNATURE)
    throw invalid(
      'TCG_EfiSpecIDEvent',
      'signature',
      sigAt,
      `signature is not "Spec ID Event03": not a crypto-agile log`,
    );
  const platformClass = s.u32le('platformClass');
  const specVersionMinor = s.u8('specVersionMinor');
  const specVersionMajor = s.u8('specVersionMajor');
  const specErrata = s.u8('specErrata');
  const uintnSize = s.u8('uintnSize');
  const countAt = s.offset;
  const n = s.u32le('numberOfAlgorithms');
  if (n === 0 || n > MAX_ALGORITHMS)
    throw invalid(
      'TCG_EfiSpecIDEvent',
      'numberOfAlgorithms',
      countAt,
      `${n} algorithms, expected 1 to ${MAX_ALGORITHMS}`,
    );
  const algorithms: SpecIdAlgorithm[] = [];
  for (let i = 0; i < n; i++) {
    const at = s.offset;
    const alg = s.u16le('digestSizes.algorithmId');
    const size = s.u16le('digestSizes.digestSize');
    const name = hashName(alg);
    if (name !== undefined && HASH_SIZE[name] !== size)
      throw invalid('TCG_EfiSpecIDEvent', 'digestSizes', at, `${name} declared with ${size} bytes`);
    if (size === 0 || size > MAX_DIGEST_SIZE)
      throw invalid(
        'TCG_EfiSpecIDEvent',
        'digestSizes',
        at,
        `algorithm 0x${alg.toString(16)} declared with ${size} bytes`,
      );
    if (algorithms.some((a) => a.alg === alg))
      throw invalid(
        'TCG_EfiSpecIDEvent',
        'digestSizes',
        at,
        `algorithm 0x${alg.toString(16)} declared twice`,
      );
    algorithms.push({ alg, size });
  }
  const vendorInfo = s.take(s.u8('vendorInfoSize'), 'vendorInfo');
  s.end();
  return {
    specId: {
      platformClass,
      specVersionMinor,
      specVersionMajor,
      specErrata,
      uintnSize,
      algorithms,
      vendorInfo,
    },
    end,
  };
}

/** PFP 10.2.2 TCG_PCR_EVENT2 with its TPML_DIGEST_VALUES. */
function readEvent2(bytes: Uint8Array, offset: number, spec: SpecId): { event: BootEvent; end: number } {
  const c = new Cursor(bytes, 'TCG_PCR_EVENT2', offset);
  const pcrAt = c.offset;
  const pcr = c.u32le('pcrIndex'); // attacker-controlled
  if (pcr > MAX_PCR)
    throw new ParseError(
      'BOOT_PCR_INDEX_INVALID',
      'TCG_PCR_EVENT2',
      'pcrIndex',
      pcrAt,
      `PCR ${pcr} is over ${MAX_PCR}`,
    );
  const type = c.u32le('eventType');
  const countAt = c.offset;
  const count = c.u32le('digests.count'); // attacker-controlled: checked before anything is read
  if (count !== spec.algorithms.length)
    throw new ParseError(
      'BOOT_DIGEST_COUNT_MISMATCH',
      'TCG_PCR_EVENT2',
      'digests.count',
      countAt,
      `${count} digests, the Spec ID header declares ${spec.algorithms.length}`,
    );
  const digests: EventDigest[] = [];
  for (let i = 0; i < count; i++) {
    const at = c.offset;
    const alg = c.u16le('digests.hashAlg');
    const declared = spec.algorithms.find((a) => a.alg === alg);
    if (declared === undefined)
      throw new ParseError(
        'BOOT_ALG_UNKNOWN',
        'TCG_PCR_EVENT2',
        'digests.hashAlg',
        at,
        `algorithm 0x${alg.toString(16)} is not in the Spec ID header`,
      );
    if (digests.some((d) => d.alg === alg))
      throw new ParseError(
        'BOOT_DIGEST_COUNT_MISMATCH',
        'TCG_PCR_EVENT2',
        'digests.hashAlg',
        at,
        `algorithm 0x${alg.toString(16)} twice: another bank has no digest`,
      );
    digests.push({ alg, digest: c.take(declared.size, 'digests.digest') });
  }
  const size = c.u32le('eventSize'); // attacker-controlled: capped and bounds-checked before use
  const dataOffset = c.offset;
  const data = c.sized(size, MAX_EVENT_DATA_BYTES, 'event');
  return { event: { pcr, type, digests, data, offset, dataOffset }, end: c.offset };
}
