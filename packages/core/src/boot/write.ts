import { concat } from '../bytes/encoding.ts';
import { digest, HASH_SIZE } from '../crypto/hash.ts';
import { hashName } from '../tpm/alg.ts';
import type { BootEvent, SpecId, SpecIdAlgorithm } from './types.ts';
import { EventType } from './types.ts';

/** An event to write: a parsed BootEvent without its offsets. */
export type EventInput = Omit<BootEvent, 'offset' | 'dataOffset'>;

const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u16 = (n: number) => Uint8Array.of(n & 0xff, n >>> 8);

/** A Spec ID header for these banks (PFP 2.0 errata 0, 64-bit UEFI), with no vendor info. */
export function specIdFor(algs: readonly number[]): SpecId {
  const algorithms: SpecIdAlgorithm[] = algs.map((alg) => {
    const name = hashName(alg);
    if (name === undefined)
      throw new TypeError(`specIdFor: 0x${alg.toString(16)} is not a hash this build knows`);
    return { alg, size: HASH_SIZE[name] };
  });
  return {
    platformClass: 0,
    specVersionMinor: 0,
    specVersionMajor: 2,
    specErrata: 0,
    uintnSize: 2,
    algorithms,
    vendorInfo: new Uint8Array(),
  };
}

/**
 * An event whose digest in every bank of `spec` is the hash of `content` (by default the event
 * data itself, as PFP 10.4.1 prescribes for EV_SEPARATOR, EV_EFI_ACTION, variables...).
 */
export function measuredEvent(
  spec: SpecId,
  pcr: number,
  type: number,
  data: Uint8Array,
  content = data,
): EventInput {
  const digests = spec.algorithms.map(({ alg, size }) => {
    const name = hashName(alg);
    return { alg, digest: name === undefined ? new Uint8Array(size) : digest(name, content) };
  });
  return { pcr, type, digests, data };
}

/** An EV_NO_ACTION event (zero digests: never extended). */
export function noActionEvent(spec: SpecId, pcr: number, data: Uint8Array): EventInput {
  return {
    pcr,
    type: EventType.EV_NO_ACTION,
    digests: spec.algorithms.map(({ alg, size }) => ({ alg, digest: new Uint8Array(size) })),
    data,
  };
}

/**
 * Encodes a crypto-agile event log (the inverse of parseEventLog): the TCG_PCR_EVENT Spec ID
 * header, then each TCG_PCR_EVENT2, little-endian. It writes what it is given: a log that breaks
 * the format (for negative tests) is written as asked and refused by the parser.
 */
export function writeEventLog(log: { specId: SpecId; events: readonly EventInput[] }): Uint8Array {
  const s = log.specId;
  const spec = concat(
    new TextEncoder().encode('Spec ID Event03\0'),
    u32(s.platformClass),
    Uint8Array.of(s.specVersionMinor, s.specVersionMajor, s.specErrata, s.uintnSize),
    u32(s.algorithms.length),
    ...s.algorithms.flatMap((a) => [u16(a.alg), u16(a.size)]),
    Uint8Array.of(s.vendorInfo.length),
    s.vendorInfo,
  );
  const parts: Uint8Array[] = [
    u32(0),
    u32(EventType.EV_NO_ACTION),
    new Uint8Array(20),
    u32(spec.length),
    spec,
  ];
  for (const e of log.events) {
    parts.push(u32(e.pcr), u32(e.type), u32(e.digests.length));
    for (const d of e.digests) parts.push(u16(d.alg), d.digest);
    parts.push(u32(e.data.length), e.data);
  }
  return concat(...parts);
}
