import { Cursor } from '../bytes/cursor.ts';
import { HASH_SIZE } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { ColumnBuilder, type EntrySlots, emptySlots, fill } from './column-builder.ts';
import type { ImaColumns } from './columns.ts';
import { ImaParseError } from './error.ts';
import { utf8Span, zeroSpan } from './strings.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  IMA_LIMITS,
  type ImaEntry,
  type ParseOptions,
  TEMPLATES,
  type TemplateHashAlg,
  type TemplateName,
} from './types.ts';

// The binary list, /sys/kernel/security/ima/binary_runtime_measurements, as the kernel writes
// it (security/integrity/ima/ima_fs.c, ima_measurements_show), every integer in the host's
// byte order, little-endian on x86 and on the arm64 hosts TMB runs on:
//   u32 pcr | u8[20] template hash (SHA-1) | u32 name length | name
// (a per-bank list, binary_runtime_measurements_<bank>, has the bank's digest instead: u8[32]
// for sha256; see binaryTemplateHashAlg)
//   | u32 template data length (every template but "ima") | template data
// Template data is the template's fields in order, each `u32 length | bytes`, except for the
// legacy "ima" template, whose `d` field is 20 bytes with no length and whose `n` field is
// `u32 strlen | name` without the NUL (IMA_SHOW_BINARY_NO_FIELD_LEN / _OLD_STRING_FMT).

const ALG_BY_NAME = new Map<string, FileDigestAlg>(FILE_DIGEST_ALGS.map((a) => [a, a]));

/** Thrown inside a streamed parse when the bytes end inside an entry: wait for more. */
const NEED_MORE = Symbol('need more bytes');

/**
 * Parses a binary measurement list into entries. Structure only: nothing is hashed here
 * (replay.ts checks template hashes and folds PCRs).
 * @throws ImaParseError TRUNCATED, LENGTH_TOO_LARGE, IMA_TEMPLATE_UNKNOWN, IMA_FIELD_MALFORMED,
 *   IMA_DIGEST_ALG_UNSUPPORTED, IMA_DIGEST_SIZE_MISMATCH, IMA_PCR_INDEX_INVALID,
 *   IMA_TEMPLATE_HASH_ALG_MISMATCH; each names the entry index, the entry's start and the
 *   offending byte offset.
 */
export function parseBinaryLog(bytes: Uint8Array, options: ParseOptions = {}): ImaEntry[] {
  return parseBinaryColumns(bytes, options).entries();
}

/**
 * parseBinaryLog into columns (no per-entry objects): the same checks and errors.
 * @throws ImaParseError (see parseBinaryLog)
 */
export function parseBinaryColumns(bytes: Uint8Array, options: ParseOptions = {}): ImaColumns {
  const max = options.maxEntries ?? IMA_LIMITS.entries;
  // ~130 bytes an ima-ng entry: a guess that rarely needs the columns to grow.
  const out = new ColumnBuilder(options.firstIndex ?? 0, Math.min(max, Math.ceil(bytes.length / 120)));
  if (bytes.length > 0) out.templateHashAlg = binaryTemplateHashAlg(bytes, 0, options.templateHashAlg, true)!;
  parseBinaryInto(bytes, out, 0, max, false);
  return out.finish();
}

/**
 * The template hash algorithm of a binary list, from its first entry: the template name's
 * length follows the template hash, so the width that puts a known template name there is
 * the one (20 bytes: `binary_runtime_measurements`; 32: `binary_runtime_measurements_sha256`).
 * Returns null when more bytes are needed to tell (and `final` is false).
 * When no width fits, returns `expected` or sha1, and the parse then fails at the bad field.
 * @throws ImaParseError IMA_TEMPLATE_HASH_ALG_MISMATCH when `expected` does not fit and another
 *   width does.
 */
export function binaryTemplateHashAlg(
  bytes: Uint8Array,
  base: number,
  expected: TemplateHashAlg | undefined,
  final: boolean,
): TemplateHashAlg | null {
  const fits: TemplateHashAlg[] = [];
  let short = false;
  for (const alg of FILE_DIGEST_ALGS) {
    const at = 4 + HASH_SIZE[alg];
    if (bytes.length < at + 4) {
      short = true;
      continue;
    }
    const len = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
    if (len > 15) continue;
    if (bytes.length < at + 4 + len) {
      short = true;
      continue;
    }
    if (templateOf(bytes, at + 4, len) !== null) fits.push(alg);
  }
  if (expected !== undefined && fits.includes(expected)) return expected;
  if (expected === undefined && fits.length > 0) return fits[0]!;
  if (short && !final) return null;
  const width = (a: TemplateHashAlg) => `${HASH_SIZE[a]}-byte`;
  if (expected !== undefined && fits.length > 0) {
    throw new ImaParseError(
      'IMA_TEMPLATE_HASH_ALG_MISMATCH',
      0,
      base,
      'template hash',
      base + 4,
      `expected ${width(expected)} ${expected} template hashes, but the first entry has a ${width(fits[0]!)} one: ` +
        `this looks like binary_runtime_measurements${fits[0] === 'sha1' ? '' : `_${fits[0]}`}`,
    );
  }
  // Nothing fits: parse with the width asked for (or SHA-1's), so that the error names the
  // first bad field (an absurd name length, an unknown template name) where it is.
  return expected ?? 'sha1';
}

/**
 * Parses entries of `bytes` into `out`, `base` being the offset of bytes[0] in the whole input.
 * With `partial`, an entry cut off by the end of `bytes` is left for the next call (streaming)
 * instead of failing; returns how many bytes were consumed.
 * @throws ImaParseError (see parseBinaryLog) at the first bad entry.
 */
export function parseBinaryInto(
  bytes: Uint8Array,
  out: ColumnBuilder,
  base: number,
  max: number,
  partial: boolean,
): number {
  const cur = new Cursor(bytes, 'ima log');
  const slots = emptySlots();
  const width = HASH_SIZE[out.templateHashAlg];
  while (cur.remaining > 0) {
    const index = out.firstIndex + out.length;
    const start = cur.offset;
    if (out.length >= max) {
      throw new ImaParseError(
        'LENGTH_TOO_LARGE',
        index,
        base + start,
        'entries',
        base + start,
        `over ${max} entries`,
      );
    }
    try {
      readEntry(cur, index, start, slots, width, partial, base);
    } catch (err) {
      if (err === NEED_MORE) return start;
      if (err instanceof ImaParseError) throw err;
      if (!(err instanceof ParseError)) throw err;
      if (partial && err.code === 'TRUNCATED') return start;
      throw new ImaParseError(err.code, index, base + start, err.field, base + err.offset, err.message);
    }
    slots.offset += base;
    out.push(bytes, slots);
  }
  return cur.offset;
}

function readEntry(
  cur: Cursor,
  index: number,
  start: number,
  out: EntrySlots,
  width: number,
  partial: boolean,
  base: number,
): void {
  const bytes = cur.bytes;
  const fail = (code: ConstructorParameters<typeof ImaParseError>[0], field: string, at: number, d: string) =>
    new ImaParseError(code, index, base + start, field, base + at, d);
  const pcr = cur.u32le('pcr'); // host order
  if (pcr >= IMA_LIMITS.pcrs) throw fail('IMA_PCR_INDEX_INVALID', 'pcr', start, `PCR ${pcr} is not 0..23`);
  const hashAt = cur.offset;
  cur.take(width, 'template hash');
  const violation = zeroSpan(bytes, hashAt, hashAt + width);
  const nameLen = cur.u32le('template name length'); // attacker-controlled
  const nameAt = span(cur, nameLen, IMA_LIMITS.templateName, 'template name', fail, partial);
  const template = templateOf(bytes, nameAt, nameLen);
  if (template === null) {
    const shown = JSON.stringify(utf8Span(bytes, nameAt, nameAt + nameLen) ?? '<not UTF-8>');
    const hint =
      base + start === 0
        ? ': this is not a binary IMA measurement list (no known template name after a 20, 32, 48 or 64-byte template hash)'
        : '';
    throw fail(
      'IMA_TEMPLATE_UNKNOWN',
      'template name',
      nameAt,
      `template ${shown} is not ima, ima-ng, ima-sig or ima-buf${hint}`,
    );
  }
  if (template === 'ima') {
    const dataAt = cur.offset;
    cur.take(20, 'd');
    const len = cur.u32le('n length'); // attacker-controlled
    const pathAt = span(cur, len, IMA_LIMITS.imaName, 'n', fail, partial);
    // Any bytes but NUL: a name that is not UTF-8 is kept as bytes (strings.ts pathText).
    for (let i = pathAt; i < pathAt + len; i++) {
      if (bytes[i] === 0) throw fail('IMA_FIELD_MALFORMED', 'n', pathAt, 'NUL inside the name');
    }
    const dataLen = cur.offset - dataAt;
    fill(out, start, pcr, template, 'sha1', violation, hashAt, dataAt, dataLen, dataAt, pathAt, len, -1, 0);
    return;
  }
  const dataLen = cur.u32le('template data length'); // attacker-controlled
  const dataAt = span(cur, dataLen, IMA_LIMITS.templateData, 'template data', fail, partial);
  const end = dataAt + dataLen;
  cur.offset = dataAt; // span() checked the bounds; now walk the fields inside
  // d-ng: "<algo>:\0<digest>"
  const dAt = field(cur, end, 'd-ng', fail);
  const dEnd = cur.offset;
  let colon = -1;
  for (let i = dAt; i < Math.min(dEnd - 1, dAt + 16); i++) {
    if (bytes[i] === 0x3a && bytes[i + 1] === 0) {
      colon = i;
      break;
    }
  }
  if (colon < 0) throw fail('IMA_FIELD_MALFORMED', 'd-ng', dAt, 'digest has no "<algo>:\\0" prefix');
  const algName = utf8Span(bytes, dAt, colon) ?? '';
  const alg = ALG_BY_NAME.get(algName);
  if (alg === undefined) {
    throw fail('IMA_DIGEST_ALG_UNSUPPORTED', 'd-ng', dAt, `digest algorithm ${JSON.stringify(algName)}`);
  }
  const digestAt = colon + 2;
  if (dEnd - digestAt !== HASH_SIZE[alg]) {
    throw fail(
      'IMA_DIGEST_SIZE_MISMATCH',
      'd-ng',
      digestAt,
      `${alg} digest of ${dEnd - digestAt} bytes, expected ${HASH_SIZE[alg]}`,
    );
  }
  // n-ng: the name and its NUL
  const nAt = field(cur, end, 'n-ng', fail);
  const nEnd = cur.offset;
  if (nEnd === nAt || bytes[nEnd - 1] !== 0)
    throw fail('IMA_FIELD_MALFORMED', 'n-ng', nAt, 'name is not NUL-terminated');
  if (bytes.indexOf(0, nAt) < nEnd - 1) throw fail('IMA_FIELD_MALFORMED', 'n-ng', nAt, 'NUL inside the name');
  let extraAt = -1;
  let extraLen = 0;
  if (template === 'ima-sig' || template === 'ima-buf') {
    extraAt = field(cur, end, template === 'ima-sig' ? 'sig' : 'buf', fail);
    extraLen = cur.offset - extraAt;
  }
  if (cur.offset !== end) {
    throw fail(
      'IMA_FIELD_MALFORMED',
      'template data',
      cur.offset,
      `${end - cur.offset} bytes after the last ${template} field`,
    );
  }
  const pathLen = nEnd - 1 - nAt;
  fill(
    out,
    start,
    pcr,
    template,
    alg,
    violation,
    hashAt,
    dataAt,
    dataLen,
    digestAt,
    nAt,
    pathLen,
    extraAt,
    extraLen,
  );
}

type Fail = (
  code: ConstructorParameters<typeof ImaParseError>[0],
  field: string,
  at: number,
  d: string,
) => ImaParseError;

/** Checks a declared length against its cap and the bytes left, then skips over it. */
function span(cur: Cursor, len: number, cap: number, name: string, fail: Fail, partial: boolean): number {
  if (len > cap) throw fail('LENGTH_TOO_LARGE', name, cur.offset, `length ${len} over the cap of ${cap}`);
  if (len > cur.remaining) {
    if (partial) throw NEED_MORE;
    throw fail(
      'LENGTH_TOO_LARGE',
      name,
      cur.offset,
      `length ${len} past the end: ${cur.remaining} bytes left`,
    );
  }
  const at = cur.offset;
  cur.offset += len;
  return at;
}

/** One `u32 length | bytes` template field, which must end inside the template data. */
function field(cur: Cursor, end: number, name: string, fail: Fail): number {
  if (end - cur.offset < 4)
    throw fail('IMA_FIELD_MALFORMED', name, cur.offset, `template data ends before the ${name} field`);
  const len = cur.u32le(name); // attacker-controlled
  if (len > end - cur.offset) {
    throw fail('IMA_FIELD_MALFORMED', name, cur.offset, `field length ${len} runs past the template data`);
  }
  const at = cur.offset;
  cur.offset += len;
  return at;
}

function templateOf(bytes: Uint8Array, at: number, len: number): TemplateName | null {
  for (const t of TEMPLATES) {
    if (t.length !== len) continue;
    let same = true;
    for (let i = 0; i < len; i++) {
      if (bytes[at + i] !== t.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) return t;
  }
  return null;
}
