import type { ImaColumns } from './columns.ts';
import { fold, type ReplayOptions, type ReplayResult } from './replay.ts';
import { TEMPLATES } from './types.ts';

// replay() over columns: the same fold (replay.ts, where the kernel's rules are written down),
// reading each entry's spans from the columns instead of an ImaEntry. Property tests check that
// both give the same value, counts, mismatches and matched prefix on generated and mutated logs.

const IMA = TEMPLATES.indexOf('ima');

/** The legacy `ima` template's hash input: the 20-byte digest, then the name NUL-padded to 256 bytes. */
function imaInput(bytes: Uint8Array, dataAt: number, dataLength: number): Uint8Array {
  const out = new Uint8Array(20 + 256);
  out.set(bytes.subarray(dataAt, dataAt + 20), 0);
  out.set(bytes.subarray(dataAt + 24, dataAt + dataLength), 20);
  return out;
}

/** replay() for columns: same options, same result (mismatches as ImaEntry, built for those only). */
export function replayColumns(cols: ImaColumns, options: ReplayOptions = {}): ReplayResult {
  return fold(
    {
      length: cols.length,
      pcr: (i) => cols.pcr[i]!,
      violation: (i) => cols.violation[i] === 1,
      input: (i) => {
        const bytes = cols.bytesOf(i);
        const at = cols.dataAt[i]!;
        const len = cols.dataLength[i]!;
        return cols.template[i] === IMA ? imaInput(bytes, at, len) : bytes.subarray(at, at + len);
      },
      hashBytes: (i) => cols.bytesOf(i),
      hashAt: (i) => cols.hashAt[i]!,
      entry: (i) => cols.entry(i),
    },
    options,
  );
}
