import { HASH_SIZE } from '../crypto/hash.ts';
import { hashLatin1, hashOnce, latin1Of, putLatin1, scratch } from './hashing.ts';
import { IMA_PCR, type ImaEntry, type PcrBank, type TemplateHashAlg } from './types.ts';

// How a measurement reaches each PCR bank (security/integrity/ima/ima_crypto.c,
// ima_calc_field_array_hash; ima_queue.c, ima_add_template_entry / ima_pcr_extend):
// - the kernel hashes the template data once per bank, with that bank's algorithm, and extends
//   the bank with it: PCR_new = H(PCR_old || H(template data));
// - it logs only the sha1 bank's template hash (TPM_DIGEST_SIZE = 20 bytes), in both forms;
// - for the legacy `ima` template the hash input is the 20-byte digest then the name padded
//   with NULs to IMA_EVENT_NAME_LEN_MAX + 1 = 256 bytes, not the bytes the log shows;
// - a violation (ToMToU, open-writers) is logged with an all-zero template hash and every bank
//   is extended with all 0xFF bytes instead.
// So replaying the sha256 bank re-hashes the template data with SHA-256, as Keylime does
// (keylime/ima/ast.py, Entry: pcr_template_hash = pcr_hash_alg.hash(template bytes)); the logged
// SHA-1 plays no part there except to mark violations.

const FF: Record<PcrBank, Uint8Array> = {
  sha1: new Uint8Array(20).fill(0xff),
  sha256: new Uint8Array(32).fill(0xff),
};

/** What the template hash is computed over: the template data, or the padded `ima` form. */
export function templateHashInput(entry: ImaEntry): Uint8Array {
  if (entry.template !== 'ima') return entry.templateData;
  const out = new Uint8Array(20 + 256);
  const b = entry.bytes;
  out.set(b.subarray(entry.dataAt, entry.dataAt + 20), 0);
  out.set(b.subarray(entry.dataAt + 24, entry.dataAt + entry.dataLength), 20);
  return out;
}

/** The digest the kernel extended `bank` with for this entry (all 0xFF for a violation). */
export function extendDigest(entry: ImaEntry, bank: PcrBank): Uint8Array {
  return plain(entry.violation ? FF[bank] : hashOnce(bank, templateHashInput(entry)));
}

/**
 * A PCR's value at TPM start: all zero, except PCRs 17 to 22, which a PC-client TPM starts at
 * all ones until a dynamic launch resets them (TCG PC Client Platform TPM Profile, PCR
 * attributes table).
 */
export function pcrInitialValue(pcrIndex: number, bank: PcrBank): Uint8Array {
  const v = new Uint8Array(HASH_SIZE[bank]);
  if (pcrIndex >= 17 && pcrIndex <= 22) v.fill(0xff);
  return v;
}

/** PCR_new = H(PCR_old || digest), the TPM2_PCR_Extend rule for one bank. */
export function extendPcr(bank: PcrBank, pcr: Uint8Array, digest: Uint8Array): Uint8Array {
  const buf = new Uint8Array(pcr.length + digest.length);
  buf.set(pcr, 0);
  buf.set(digest, pcr.length);
  return plain(hashOnce(bank, buf));
}

/** Options of replay(); every one has a default that replays a kernel IMA log. */
export interface ReplayOptions {
  /** Bank to fold into. Default sha256. */
  bank?: PcrBank;
  /** Only entries for this PCR are folded. Default 10. */
  pcrIndex?: number;
  /** Value to start from (an incremental state's running value). Default pcrInitialValue. */
  initial?: Uint8Array;
  /**
   * Also check each logged template hash against the template data. Always done for the bank
   * of the logged hashes (sha1, or a per-bank list's bank), where it is the digest extended
   * anyway; for another bank it costs one more hash per entry and proves nothing that bank's
   * chain does not, so it is off unless asked for.
   */
  checkTemplateHash?: boolean;
  /** A quoted PCR value: replay records after how many entries the running value first equals it. */
  quoted?: Uint8Array;
  /**
   * Filled with each folded entry's bank digest of its template data, as a latin1 string, at
   * the entry's position (violations and other PCRs' entries are left out), so that a caller
   * can look entries up by it without hashing again (host/fold-columns.ts).
   */
  digests?: string[];
}

/** The outcome of a replay. Bad evidence is reported here, not thrown. */
export interface ReplayResult {
  bank: PcrBank;
  pcrIndex: number;
  /** Running value after every entry. */
  pcr: Uint8Array;
  /** Entries folded into pcrIndex (others belong to other PCRs). */
  folded: number;
  /** Entries given. */
  total: number;
  violations: number;
  /** Entries whose logged template hash is not the hash of their data (checked entries only). */
  templateHashMismatches: ImaEntry[];
  /** Smallest k (0..total) such that the value after the first k entries equals `quoted`; else null. */
  matchedAfter: number | null;
  /** The running value at matchedAfter. */
  matchedValue: Uint8Array | null;
}

/**
 * One log as the fold reads it, entry by entry: the object form (ImaEntry[]) and the columnar
 * form (ImaColumns) both present themselves this way, so there is one fold to get right.
 */
export interface FoldSource {
  length: number;
  pcr(i: number): number;
  violation(i: number): boolean;
  /** The template hash input of entry i (templateHashInput). */
  input(i: number): Uint8Array;
  /** The bytes holding entry i's logged template hash, and where it starts. */
  hashBytes(i: number): Uint8Array;
  /** Algorithm of the logged template hashes; left out, sha1. */
  hashAlg?: TemplateHashAlg;
  hashAt(i: number): number;
  /** Entry i as an object, built only for the entries a result names. */
  entry(i: number): ImaEntry;
}

/** Folds entries into one bank of one PCR, as the TPM did. Pure: no I/O, never throws on bad evidence. */
export function replay(entries: readonly ImaEntry[], options: ReplayOptions = {}): ReplayResult {
  return fold(
    {
      length: entries.length,
      pcr: (i) => entries[i]!.pcr,
      violation: (i) => entries[i]!.violation,
      input: (i) => templateHashInput(entries[i]!),
      hashBytes: (i) => entries[i]!.bytes,
      hashAt: (i) => entries[i]!.hashAt,
      hashAlg: entries[0]?.templateHashAlg,
      entry: (i) => entries[i]!,
    },
    options,
  );
}

/** The fold of replay() and replayColumns() over any FoldSource. */
export function fold(src: FoldSource, options: ReplayOptions = {}): ReplayResult {
  const bank = options.bank ?? 'sha256';
  const pcrIndex = options.pcrIndex ?? IMA_PCR;
  const thAlg = src.hashAlg ?? 'sha1';
  const check = bank === thAlg || options.checkTemplateHash === true;
  const size = HASH_SIZE[bank];
  const initial = options.initial ?? pcrInitialValue(pcrIndex, bank);
  const quoted = options.quoted === undefined ? null : latin1Of(options.quoted);
  const ff = latin1Of(FF[bank]);
  const digests = options.digests;
  // buf holds PCR_old || digest; the new value is written back over PCR_old.
  const buf = scratch(2 * size);
  buf.set(initial, 0);
  let pcr = latin1Of(initial);
  const mismatches: ImaEntry[] = [];
  let folded = 0;
  let violations = 0;
  let matchedAfter: number | null = pcr === quoted ? 0 : null;
  let matchedValue: string | null = matchedAfter === 0 ? pcr : null;
  const n = src.length;
  for (let i = 0; i < n; i++) {
    if (src.pcr(i) !== pcrIndex) continue;
    let d: string;
    if (src.violation(i)) {
      violations++;
      d = ff;
    } else {
      const input = src.input(i);
      d = hashLatin1(bank, input);
      if (digests !== undefined) digests[i] = d;
      if (check && !sameBytes(bank === thAlg ? d : hashLatin1(thAlg, input), src.hashBytes(i), src.hashAt(i)))
        mismatches.push(src.entry(i));
    }
    putLatin1(buf, d, size);
    pcr = hashLatin1(bank, buf);
    putLatin1(buf, pcr, 0);
    folded++;
    // PCR values are public (they are in the quote): a plain comparison is fine here.
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

/** Whether a latin1 digest equals the bytes at `at` (a logged template hash of its width). */
function sameBytes(digest: string, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < digest.length; i++) if (digest.charCodeAt(i) !== bytes[at + i]) return false;
  return true;
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A plain Uint8Array copy (node:crypto returns Buffers; the API returns Uint8Array everywhere). */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
