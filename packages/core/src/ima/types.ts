import { HASH_SIZE, type HashName } from '../crypto/hash.ts';
import { hexSpan, pathText } from './strings.ts';

/**
 * The templates this parser reads (kernel Documentation/security/IMA-templates.rst, "Supported
 * Template Fields and Descriptors"): `ima` is `d|n`, `ima-ng` is `d-ng|n-ng`, `ima-sig` is
 * `d-ng|n-ng|sig`, `ima-buf` is `d-ng|n-ng|buf`. Any other name is IMA_TEMPLATE_UNKNOWN.
 */
export const TEMPLATES = ['ima', 'ima-ng', 'ima-sig', 'ima-buf'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

/** PCR banks a log replays into. The kernel extends every bank the TPM has; TMB reads these two. */
export const PCR_BANKS = ['sha1', 'sha256'] as const;
export type PcrBank = (typeof PCR_BANKS)[number];

/** File digest algorithms of the `d-ng` field (`<algo>:` prefix) that this parser accepts. */
export const FILE_DIGEST_ALGS = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
export type FileDigestAlg = (typeof FILE_DIGEST_ALGS)[number] & HashName;

/**
 * Algorithm of the logged template hash. `binary_runtime_measurements` and its ASCII form log
 * the SHA-1 one; since Linux 6.10 ("ima: add crypto agility support for template-hash
 * algorithm") the kernel also writes one list per PCR bank, `*_runtime_measurements_<bank>`,
 * whose template hash is that bank's digest of the template data (32 bytes for sha256).
 */
export type TemplateHashAlg = FileDigestAlg;

/** The PCR the kernel extends IMA measurements into unless a policy rule says `pcr=`. */
export const IMA_PCR = 10;

/**
 * Caps checked before anything is sized from a length on the wire. A genuine log stays far
 * below each: template names are at most 15 bytes in the kernel (IMA_TEMPLATE_NAME_LEN_MAX),
 * `ima` template names at most 255 (IMA_EVENT_NAME_LEN_MAX), and the largest `ima-buf` events
 * (kernel keys, device-mapper tables) are a few KiB.
 */
export const IMA_LIMITS = {
  templateName: 64,
  /** `n` field of the legacy `ima` template: IMA_EVENT_NAME_LEN_MAX. */
  imaName: 255,
  templateData: 1 << 20,
  /** Entries per parse call: bounds memory at about 300 bytes an entry. */
  entries: 5_000_000,
  /** PCR indexes of a PC-client TPM. */
  pcrs: 24,
} as const;

/**
 * One measurement, from either form of the log. Only offsets are stored: the digest's hex, the
 * path's text and the template hash and data are cut from `bytes` when asked for, so that a
 * 300,000-entry list holds no per-entry strings or typed arrays (150 bytes an entry instead of
 * 300; bench/ima.bench.ts). Read `path` and `digest` once into a variable in hot loops.
 */
export class ImaEntry {
  /** Position in the whole measurement list, counting from 0 (a delta starts at its firstIndex). */
  readonly index: number;
  /** Byte offset of the entry in the input it was parsed from (binary log or ASCII text). */
  readonly offset: number;
  readonly pcr: number;
  readonly template: TemplateName;
  /** Algorithm of the file digest (`ima` template: always sha1). */
  readonly digestAlg: FileDigestAlg;
  /** True when the logged template hash is all zero: a violation, extended as all 0xFF. */
  readonly violation: boolean;
  /** Bytes holding this entry's template hash and data (the binary log, or a rebuilt copy). */
  readonly bytes: Uint8Array;
  readonly hashAt: number;
  readonly dataAt: number;
  readonly dataLength: number;
  /** Where the file digest's bytes are (its length is the algorithm's). */
  readonly digestAt: number;
  /** Where the name's bytes are (without the `n-ng` NUL): any bytes but NUL, UTF-8 or not. */
  readonly pathAt: number;
  readonly pathLength: number;
  /** Content of the `sig` or `buf` field, as a span of `bytes`; -1 when the template has none. */
  readonly extraAt: number;
  readonly extraLength: number;
  /** Algorithm, hence width, of the logged template hash at hashAt (sha1, 20 bytes, but in per-bank lists). */
  readonly templateHashAlg: TemplateHashAlg;

  constructor(
    index: number,
    offset: number,
    pcr: number,
    template: TemplateName,
    digestAlg: FileDigestAlg,
    violation: boolean,
    bytes: Uint8Array,
    hashAt: number,
    dataAt: number,
    dataLength: number,
    digestAt: number,
    pathAt: number,
    pathLength: number,
    extraAt: number,
    extraLength: number,
    templateHashAlg: TemplateHashAlg = 'sha1',
  ) {
    this.index = index;
    this.offset = offset;
    this.pcr = pcr;
    this.template = template;
    this.digestAlg = digestAlg;
    this.violation = violation;
    this.bytes = bytes;
    this.hashAt = hashAt;
    this.dataAt = dataAt;
    this.dataLength = dataLength;
    this.digestAt = digestAt;
    this.pathAt = pathAt;
    this.pathLength = pathLength;
    this.extraAt = extraAt;
    this.extraLength = extraLength;
    this.templateHashAlg = templateHashAlg;
  }

  /** File (or buffer) digest, lower-case hex. */
  get digest(): string {
    return hexSpan(this.bytes, this.digestAt, this.digestAt + HASH_SIZE[this.digestAlg]);
  }

  /**
   * The `n`/`n-ng` field: a path, or an event name such as `boot_aggregate` or a keyring. Bytes
   * that are not UTF-8 appear as U+DC80..U+DCFF (Python's surrogateescape; strings.ts pathText).
   */
  get path(): string {
    return pathText(this.bytes, this.pathAt, this.pathAt + this.pathLength);
  }

  /** The name's bytes as logged. */
  get pathBytes(): Uint8Array {
    return this.bytes.subarray(this.pathAt, this.pathAt + this.pathLength);
  }

  /** The template hash as logged: SHA-1 (20 bytes), or the bank's digest in a per-bank list. */
  get templateHash(): Uint8Array {
    return this.bytes.subarray(this.hashAt, this.hashAt + HASH_SIZE[this.templateHashAlg]);
  }

  /**
   * Template data as the binary log carries it. For every template but `ima` this is also
   * what the template hash is computed over; `ima` hashes a padded form (see replay.ts).
   */
  get templateData(): Uint8Array {
    return this.bytes.subarray(this.dataAt, this.dataAt + this.dataLength);
  }

  /** The `sig` field of `ima-sig` (possibly empty) or the `buf` field of `ima-buf`; else null. */
  get extra(): Uint8Array | null {
    return this.extraAt < 0 ? null : this.bytes.subarray(this.extraAt, this.extraAt + this.extraLength);
  }
}

/** Options shared by both parsers. */
export interface ParseOptions {
  /** Index of the first entry, for a delta that continues a log. Default 0. */
  firstIndex?: number;
  /** Cap on entries; over it the parse fails with LENGTH_TOO_LARGE. Default IMA_LIMITS.entries. */
  maxEntries?: number;
  /**
   * Algorithm of the logged template hashes. Left out, it is detected from the first entry
   * (the width of its template hash), so both `ascii_runtime_measurements` and
   * `ascii_runtime_measurements_sha256` read; given, a list of another width fails
   * IMA_TEMPLATE_HASH_ALG_MISMATCH with what the list looks like.
   */
  templateHashAlg?: TemplateHashAlg;
}
