import { HASH_SIZE } from '../crypto/hash.ts';
import type { ImaColumns } from './columns.ts';
import { hashLatin1, latin1Of, putLatin1, scratch } from './hashing.ts';
import { pcrInitialValue, type ReplayOptions, type ReplayResult } from './replay.ts';
import { IMA_PCR, type ImaEntry, type PcrBank, TEMPLATES } from './types.ts';

// replay() over columns: the same fold (see replay.ts for the kernel's rules), reading each
// entry's spans from the columns instead of an ImaEntry. Property tests check that both give
// the same value, counts, mismatches and matched prefix on generated and mutated logs.

const FF: Record<PcrBank, string> = {
  sha1: '\xff'.repeat(20),
  sha256: '\xff'.repeat(32),
};

/** The legacy `ima` template's hash input: the 20-byte digest, then the name NUL-padded to 256 bytes. */
const IMA = TEMPLATES.indexOf('ima');

function imaInput(bytes: Uint8Array, dataAt: number, dataLength: number): Uint8Array {
  const out = new Uint8Array(20 + 256);
  out.set(bytes.subarray(dataAt, dataAt + 20), 0);
  out.set(bytes.subarray(dataAt + 24, dataAt + dataLength), 20);
  return out;
}

/** replay() for columns: same options, same result (mismatches as ImaEntry, built for those only). */
export function replayColumns(cols: ImaColumns, options: ReplayOptions = {}): ReplayResult {
  const bank = options.bank ?? 'sha256';
  const pcrIndex = options.pcrIndex ?? IMA_PCR;
  const check = bank === 'sha1' || options.checkTemplateHash === true;
  const size = HASH_SIZE[bank];
  const initial = options.initial ?? pcrInitialValue(pcrIndex, bank);
  const quoted = options.quoted === undefined ? null : latin1Of(options.quoted);
  const ff = FF[bank];
  const buf = scratch(2 * size);
  buf.set(initial, 0);
  let pcr = latin1Of(initial);
  const mismatches: ImaEntry[] = [];
  let folded = 0;
  let violations = 0;
  let matchedAfter: number | null = pcr === quoted ? 0 : null;
  let matchedValue: string | null = matchedAfter === 0 ? pcr : null;
  const n = cols.length;
  for (let i = 0; i < n; i++) {
    if (cols.pcr[i] !== pcrIndex) continue;
    let d: string;
    if (cols.violation[i] === 1) {
      violations++;
      d = ff;
    } else {
      const bytes = cols.bytesOf(i);
      const at = cols.dataAt[i]!;
      const len = cols.dataLength[i]!;
      const input = cols.template[i] === IMA ? imaInput(bytes, at, len) : bytes.subarray(at, at + len);
      d = hashLatin1(bank, input);
      if (check && !sameBytes(bank === 'sha1' ? d : hashLatin1('sha1', input), bytes, cols.hashAt[i]!))
        mismatches.push(cols.entry(i));
    }
    putLatin1(buf, d, size);
    pcr = hashLatin1(bank, buf);
    putLatin1(buf, pcr, 0);
    folded++;
    if (matchedAfter === null && pcr === quoted) {
      matchedAfter = i + 1;
      matchedValue = pcr;
    }
  }
  return {
    bank,
    pcrIndex,
    pcr: fromLatin1(pcr),
    folded,
    total: n,
    violations,
    templateHashMismatches: mismatches,
    matchedAfter,
    matchedValue: matchedValue === null ? null : fromLatin1(matchedValue),
  };
}

function sameBytes(digest: string, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < digest.length; i++) if (digest.charCodeAt(i) !== bytes[at + i]) return false;
  return true;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
