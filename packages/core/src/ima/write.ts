import { HASH_SIZE } from '../crypto/hash.ts';
import { CoreError } from '../errors.ts';
import { hashOnce } from './hashing.ts';
import { templateDataSize, writeTemplateData } from './layout.ts';
import { templateHashInput } from './replay.ts';
import { hexSpan } from './strings.ts';
import { type FileDigestAlg, IMA_LIMITS, IMA_PCR, ImaEntry, type TemplateName } from './types.ts';

const encoder = new TextEncoder();

/** What a writer supplies for one measurement; buildEntry does the encoding and hashing. */
export interface EntryFields {
  /** Default 10 (IMA_PCR). */
  pcr?: number;
  /** Default `ima-ng`. */
  template?: TemplateName;
  /** Default sha256; the legacy `ima` template is always sha1. */
  digestAlg?: FileDigestAlg;
  digest: Uint8Array;
  /** Path or event name. Spaces become `_`, as the kernel writes `n-ng` (ima_template_lib.c). */
  path: string;
  /** The `sig` (ima-sig, may be empty) or `buf` (ima-buf) field. */
  extra?: Uint8Array;
  /** Log it as a violation: all-zero template hash (the kernel also zeroes the file digest). */
  violation?: boolean;
}

/**
 * Builds one entry exactly as the kernel would log it, SHA-1 template hash included.
 * @throws CoreError IMA_DIGEST_SIZE_MISMATCH, IMA_FIELD_MALFORMED, LENGTH_TOO_LARGE for fields no
 *   log could carry (a wrong-size digest, a NUL or newline in the name, a legacy name over 255 bytes).
 */
export function buildEntry(fields: EntryFields, index = 0): ImaEntry {
  const template = fields.template ?? 'ima-ng';
  const alg: FileDigestAlg = template === 'ima' ? 'sha1' : (fields.digestAlg ?? 'sha256');
  const pcr = fields.pcr ?? IMA_PCR;
  if (fields.digest.length !== HASH_SIZE[alg]) {
    throw new CoreError('IMA_DIGEST_SIZE_MISMATCH', `${alg} digest of ${fields.digest.length} bytes`);
  }
  const path = fields.path.replaceAll(' ', '_');
  if (/[\0\n]/.test(path)) throw new CoreError('IMA_FIELD_MALFORMED', 'a name may not hold NUL or newline');
  const name = encoder.encode(path);
  const extra = template === 'ima-sig' || template === 'ima-buf' ? (fields.extra ?? new Uint8Array(0)) : null;
  if (template === 'ima' && name.length > IMA_LIMITS.imaName) {
    throw new CoreError('LENGTH_TOO_LARGE', 'ima template name over 255 bytes');
  }
  const parts = { template, alg, digest: fields.digest, name, extra };
  const size = templateDataSize(parts);
  // One buffer: template hash at 0, template data at 20, as entries parsed from ASCII are held.
  const bytes = new Uint8Array(20 + size);
  const { digestAt, pathAt, extraAt } = writeTemplateData(bytes, 20, parts);
  const violation = fields.violation === true;
  const n = extra?.length ?? 0;
  const entry = new ImaEntry(
    index,
    0,
    pcr,
    template,
    alg,
    violation,
    bytes,
    0,
    20,
    size,
    digestAt,
    pathAt,
    name.length,
    extraAt,
    n,
  );
  if (fields.violation !== true) bytes.set(hashOnce('sha1', templateHashInput(entry)), 0);
  return entry;
}

/** The entry in the binary list's layout (little-endian), as parseBinaryLog reads it. */
export function entryToBinary(entry: ImaEntry): Uint8Array {
  const name = encoder.encode(entry.template);
  const legacy = entry.template === 'ima';
  const th = entry.templateHash; // 20 bytes, or a per-bank list's width
  const out = new Uint8Array(4 + th.length + 4 + name.length + (legacy ? 0 : 4) + entry.dataLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, entry.pcr, true);
  out.set(th, 4);
  view.setUint32(4 + th.length, name.length, true);
  out.set(name, 8 + th.length);
  let at = 8 + th.length + name.length;
  if (!legacy) {
    view.setUint32(at, entry.dataLength, true);
    at += 4;
  }
  out.set(entry.templateData, at);
  return out;
}

/**
 * The entry as one line of ascii_runtime_measurements, newline included (ima_fs.c,
 * ima_ascii_measurements_show: "%2d", the template hash, the name, then " " before each field).
 * @throws CoreError IMA_FIELD_MALFORMED when the name holds a space or newline (the ASCII form
 *   cannot carry it; the kernel never logs one).
 */
export function entryToAscii(entry: ImaEntry): string {
  if (/[ \n]/.test(entry.path)) throw new CoreError('IMA_FIELD_MALFORMED', 'a space or newline in the name');
  const pcr = entry.pcr < 10 ? ` ${entry.pcr}` : String(entry.pcr);
  const th = hexSpan(entry.bytes, entry.hashAt, entry.hashAt + HASH_SIZE[entry.templateHashAlg]);
  const d = entry.template === 'ima' ? entry.digest : `${entry.digestAlg}:${entry.digest}`;
  let line = `${pcr} ${th} ${entry.template} ${d} ${entry.path}`;
  if (entry.extraAt >= 0)
    line += ` ${hexSpan(entry.bytes, entry.extraAt, entry.extraAt + entry.extraLength)}`;
  return `${line}\n`;
}

/** Concatenated binary form of entries. */
export function encodeBinaryLog(entries: readonly ImaEntry[]): Uint8Array {
  const parts = entries.map(entryToBinary);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The ASCII form of entries. */
export function formatAsciiLog(entries: readonly ImaEntry[]): string {
  return entries.map(entryToAscii).join('');
}
