import { bytesEqual } from '../bytes/encoding.ts';
import type { HashName } from '../crypto/hash.ts';
import { digest, HASH_SIZE } from '../crypto/hash.ts';
import { hashName } from '../tpm/alg.ts';
import type { BootEvent, EventLog } from './types.ts';
import { EventType } from './types.ts';

/** PCR values per bank after replaying a log: bank name -> PCR index -> value. */
export type ReplayedPcrs = Map<HashName, Map<number, Uint8Array>>;

/** "StartupLocality\0" (PFP 10.4.5.3 TCG_EfiStartupLocalityEvent). */
const STARTUP_LOCALITY = new TextEncoder().encode('StartupLocality\0');

/**
 * The locality a StartupLocality EV_NO_ACTION event in PCR 0 names, or null when the event is
 * not one. PFP 10.4.5.3: PCR 0 of every bank then starts at 0x00..00 || locality.
 */
export function startupLocality(e: BootEvent): number | null {
  if (e.type !== EventType.EV_NO_ACTION || e.pcr !== 0 || e.data.length !== STARTUP_LOCALITY.length + 1)
    return null;
  return bytesEqual(e.data.subarray(0, STARTUP_LOCALITY.length), STARTUP_LOCALITY) ? e.data[16]! : null;
}

/**
 * Replays every bank of the log this build can hash (sha1, sha256, sha384, sha512; others are
 * skipped): PCR = H(PCR || digest) for each event, EV_NO_ACTION events excepted (PFP 10.4.5:
 * they are logged, never extended). A StartupLocality event before any PCR 0 extend sets PCR 0's
 * reset value. Every PCR 0-9 is in the answer (its reset value when nothing extended it), and so
 * is any other PCR the log extends. `banks` limits the replay to those banks (appraisal needs
 * only sha256, the bank the quote selects). Pure; never throws for a parsed log.
 */
export function replayEventLog(log: EventLog, banks?: readonly HashName[]): ReplayedPcrs {
  const out: ReplayedPcrs = new Map();
  for (const { alg } of log.specId.algorithms) {
    const name = hashName(alg);
    if (name === undefined || (banks !== undefined && !banks.includes(name))) continue;
    const size = HASH_SIZE[name];
    const pcrs = new Map<number, Uint8Array>();
    for (let i = 0; i <= 9; i++) pcrs.set(i, new Uint8Array(size));
    let pcr0Extended = false;
    for (const e of log.events) {
      if (e.type === EventType.EV_NO_ACTION) {
        const locality = startupLocality(e);
        if (locality !== null && !pcr0Extended) {
          const v = new Uint8Array(size);
          v[size - 1] = locality;
          pcrs.set(0, v);
        }
        continue;
      }
      // The parser guarantees one digest per declared algorithm.
      const d = e.digests.find((x) => x.alg === alg)!.digest;
      pcrs.set(e.pcr, digest(name, pcrs.get(e.pcr) ?? new Uint8Array(size), d));
      if (e.pcr === 0) pcr0Extended = true;
    }
    out.set(name, pcrs);
  }
  return out;
}
