import type { EntryFailure } from './appraise.ts';
import type { ImaColumns } from './columns.ts';
import { hashLatin1 } from './hashing.ts';
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
      hashAlg: cols.templateHashAlg,
      entry: (i) => cols.entry(i),
    },
    options,
  );
}

/**
 * Every entry, of any PCR, whose logged template hash is not the hash of its template data
 * (the list's template hash algorithm: sha1, or a per-bank list's bank), as appraisal
 * failures with code IMA_TEMPLATE_HASH_MISMATCH, in log order. Keylime checks this before it
 * looks an entry up in the policy (keylime/ima/ast.py, Entry.invalid), so an entry whose
 * digest was rewritten to another allowed one still fails. Violations (all-zero hash) carry
 * no hash of their data and are skipped, as Keylime does.
 */
export function templateHashFailures(cols: ImaColumns): EntryFailure[] {
  const alg = cols.templateHashAlg;
  const out: EntryFailure[] = [];
  for (let i = 0; i < cols.length; i++) {
    if (cols.violation[i] === 1) continue;
    const bytes = cols.bytesOf(i);
    const at = cols.dataAt[i]!;
    const len = cols.dataLength[i]!;
    const input = cols.template[i] === IMA ? imaInput(bytes, at, len) : bytes.subarray(at, at + len);
    const d = hashLatin1(alg, input);
    const h = cols.hashAt[i]!;
    let same = true;
    for (let k = 0; k < d.length; k++) {
      if (d.charCodeAt(k) !== bytes[h + k]) {
        same = false;
        break;
      }
    }
    if (same) continue;
    out.push({
      index: cols.firstIndex + i,
      offset: cols.offset[i]!,
      template: cols.templateOf(i),
      path: cols.path(i),
      digest: `${cols.algOf(i)}:${cols.digest(i)}`,
      code: 'IMA_TEMPLATE_HASH_MISMATCH',
      detail: `the logged ${alg} template hash is not the ${alg} of the entry's template data: the entry was altered`,
    });
  }
  return out;
}
