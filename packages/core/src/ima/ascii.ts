import { HASH_SIZE } from '../crypto/hash.ts';
import { ColumnBuilder, emptySlots } from './column-builder.ts';
import type { ImaColumns } from './columns.ts';
import { ImaParseError } from './error.ts';
import { copy, hexOk, matchAt, nextSpace as next, SPACE, unhex } from './strings.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  IMA_LIMITS,
  type ImaEntry,
  type ParseOptions,
  TEMPLATES,
  type TemplateHashAlg,
} from './types.ts';

// The ASCII list, /sys/kernel/security/ima/ascii_runtime_measurements, one entry a line
// (ima_fs.c, ima_ascii_measurements_show): "%2d" PCR, the template hash in hex, the template
// name, then a space before every field, each field as text:
//   10 <sha1 hex> ima-ng sha256:<hex> /usr/bin/bash
//   10 <sha1 hex> ima-sig sha256:<hex> /usr/bin/ls <signature hex, possibly empty>
//   10 <sha1 hex> ima <sha1 hex> /usr/bin/bash
// The per-bank lists (ascii_runtime_measurements_<bank>, Linux 6.10 on) carry that bank's
// template hash instead: 64 hex digits for sha256. The name is printed with "%s": its bytes as
// they are, UTF-8 or not; it never holds a space (the kernel writes `_`, ima_template_lib.c) or
// a newline. The parser works on bytes, not text, so that a name that is not UTF-8 keeps its
// bytes, and rebuilds each entry's template data in the binary layout, so that replay treats
// both forms alike.

const TEMPLATE_BYTES = TEMPLATES.map((t) => Uint8Array.from(t, (c) => c.charCodeAt(0)));
const ALG_BYTES = FILE_DIGEST_ALGS.map((a) => Uint8Array.from(a, (c) => c.charCodeAt(0)));
/** Template hash algorithm by hex width. */
const ALG_BY_HEX = new Map<number, TemplateHashAlg>(FILE_DIGEST_ALGS.map((a) => [2 * HASH_SIZE[a], a]));
const LF = 0x0a;
const CHUNK = 1 << 20;
/** The longest line a kernel can print: template data hex-encoded, plus the short fields. */
export const MAX_ASCII_LINE = 2 * IMA_LIMITS.templateData + 1024;

/**
 * Parses the ASCII form into entries. Offsets are byte offsets into `input`.
 * @throws ImaParseError (see parseAsciiColumns)
 */
export function parseAsciiLog(input: Uint8Array, options: ParseOptions = {}): ImaEntry[] {
  return parseAsciiColumns(input, options).entries();
}

/**
 * Parses the ASCII form into columns, with no per-entry object.
 * @throws ImaParseError IMA_ASCII_MALFORMED, IMA_ASCII_BOM, IMA_ASCII_CRLF, IMA_ASCII_BLANK_LINE,
 *   IMA_TEMPLATE_UNKNOWN, IMA_DIGEST_ALG_UNSUPPORTED, IMA_DIGEST_SIZE_MISMATCH,
 *   IMA_PCR_INDEX_INVALID, IMA_TEMPLATE_HASH_ALG_MISMATCH, LENGTH_TOO_LARGE
 */
export function parseAsciiColumns(input: Uint8Array, options: ParseOptions = {}): ImaColumns {
  const max = options.maxEntries ?? IMA_LIMITS.entries;
  // ~200 bytes an ima-ng line.
  const out = new ColumnBuilder(options.firstIndex ?? 0, Math.min(max, Math.ceil(input.length / 180)));
  parseAsciiInto(input, out, 0, max, false, newAsciiState(options.templateHashAlg));
  return out.finish();
}

/** What a streamed ASCII parse carries from one chunk to the next. */
export interface AsciiState {
  /** The template hash algorithm asked for, if any. */
  readonly expected: TemplateHashAlg | undefined;
  /** Of the first entry, once seen. */
  found: TemplateHashAlg | null;
  /** Where rebuilt entries go: 1 MiB chunks, each left to the entries in it when full. */
  chunk: Uint8Array;
  view: DataView;
  used: number;
}

/** A fresh AsciiState. */
export function newAsciiState(expected?: TemplateHashAlg): AsciiState {
  const chunk = new Uint8Array(0);
  return { expected, found: null, chunk, view: new DataView(chunk.buffer), used: 0 };
}

/**
 * Parses the lines of `input` into `out`, `base` being the offset of input[0] in the whole
 * list. With `partial`, a last line without its newline is left for the next call (streaming):
 * returns how many bytes were consumed.
 * @throws ImaParseError (see parseAsciiColumns) at the first bad line.
 */
export function parseAsciiInto(
  input: Uint8Array,
  out: ColumnBuilder,
  base: number,
  max: number,
  partial: boolean,
  state: AsciiState,
): number {
  const slots = emptySlots();
  let start = 0;
  while (start < input.length) {
    let end = input.indexOf(LF, start);
    const index = out.firstIndex + out.length;
    if (end < 0) {
      if (input.length - start > MAX_ASCII_LINE) {
        throw new ImaParseError(
          'LENGTH_TOO_LARGE',
          index,
          base + start,
          'line',
          base + start,
          `line longer than ${MAX_ASCII_LINE} bytes: no kernel prints one (is this an ASCII IMA list?)`,
        );
      }
      if (partial) return start;
      end = input.length;
    }
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
    readLine(input, start, end, index, base, out, slots, state);
    start = end + 1;
  }
  return input.length;
}

type Slots = ReturnType<typeof emptySlots>;

function readLine(
  input: Uint8Array,
  start: number,
  end: number,
  index: number,
  base: number,
  out: ColumnBuilder,
  slots: Slots,
  state: AsciiState,
): void {
  current.index = index;
  current.base = base;
  current.start = start;
  const line = index - out.firstIndex + 1; // for people: the line of this input, from 1
  if (base + start === 0 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
    throw failAt(
      'IMA_ASCII_BOM',
      'line',
      0,
      'the file starts with a UTF-8 byte-order mark (EF BB BF): an editor saved it; the kernel never writes one. Remove the first 3 bytes',
    );
  }
  if (end === start) {
    throw failAt(
      'IMA_ASCII_BLANK_LINE',
      'line',
      start,
      `line ${line} is empty (a lone newline): the kernel writes one entry a line and no blank lines`,
    );
  }
  if (input[end - 1] === 0x0d) {
    throw failAt(
      'IMA_ASCII_CRLF',
      'line',
      end - 1,
      `line ${line} ends in CR LF (Windows line ends): the kernel writes LF only; convert the file back (dos2unix)`,
    );
  }
  // PCR: "%2d", so " 9" or "10".
  let p = start;
  if (input[p] === SPACE) p++;
  let pcr = 0;
  const pcrAt = p;
  while (p < end && p - pcrAt < 2 && input[p]! >= 0x30 && input[p]! <= 0x39)
    pcr = pcr * 10 + input[p++]! - 0x30;
  if (p === pcrAt || input[p] !== SPACE) {
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'pcr',
      pcrAt,
      `line ${line}: expected "PCR TEMPLATE-HASH TEMPLATE FIELDS"`,
    );
  }
  if (pcr >= IMA_LIMITS.pcrs) throw failAt('IMA_PCR_INDEX_INVALID', 'pcr', pcrAt, `PCR ${pcr} is not 0..23`);
  // Template hash: its width tells the list (sha1: 40 hex digits; a per-bank list's bank).
  const thAt = ++p;
  const thEnd = next(input, thAt, end);
  const thAlg = ALG_BY_HEX.get(thEnd - thAt);
  if (thAlg === undefined || !hexOk(input, thAt, thEnd)) {
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'template hash',
      thAt,
      `line ${line}: template hash is not 40 (sha1) or 64 (sha256 per-bank list) hex digits`,
    );
  }
  if (state.found === null) {
    if (state.expected !== undefined && state.expected !== thAlg) {
      throw failAt(
        'IMA_TEMPLATE_HASH_ALG_MISMATCH',
        'template hash',
        thAt,
        `expected ${state.expected} template hashes (${2 * HASH_SIZE[state.expected]} hex digits), found ${thEnd - thAt}: ` +
          `this looks like ascii_runtime_measurements${thAlg === 'sha1' ? '' : `_${thAlg}`}`,
      );
    }
    state.found = thAlg;
    out.templateHashAlg = thAlg;
  } else if (state.found !== thAlg) {
    throw failAt(
      'IMA_TEMPLATE_HASH_ALG_MISMATCH',
      'template hash',
      thAt,
      `line ${line}: a ${thEnd - thAt}-digit template hash in a list of ${state.found} ones (lists of two banks joined?)`,
    );
  }
  if (thEnd >= end)
    throw failAt('IMA_ASCII_MALFORMED', 'template name', thEnd, `line ${line}: no template name`);
  // Template name.
  const tAt = thEnd + 1;
  const tEnd = next(input, tAt, end);
  const t = matchAt(TEMPLATE_BYTES, input, tAt, tEnd);
  if (t < 0) {
    const shown = JSON.stringify(String.fromCharCode(...input.subarray(tAt, Math.min(tEnd, tAt + 32))));
    throw failAt(
      'IMA_TEMPLATE_UNKNOWN',
      'template name',
      tAt,
      `template ${shown} is not ima, ima-ng, ima-sig or ima-buf`,
    );
  }
  const template = TEMPLATES[t]!;
  if (tEnd >= end)
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'fields',
      tEnd,
      `line ${line}: ${template} needs a digest and a name`,
    );
  // Digest: "<algo>:<hex>", or bare SHA-1 hex for `ima`.
  const dAt = tEnd + 1;
  const dEnd = next(input, dAt, end);
  if (dEnd >= end)
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'fields',
      dEnd,
      `line ${line}: ${template} needs a name after the digest`,
    );
  let alg: FileDigestAlg = 'sha1';
  let hexAt = dAt;
  let algIndex = 0;
  if (template !== 'ima') {
    let colon = -1;
    for (let i = dAt; i < dEnd; i++) {
      if (input[i] === 0x3a) {
        colon = i;
        break;
      }
    }
    if (colon < 0) throw failAt('IMA_ASCII_MALFORMED', 'd-ng', dAt, 'digest has no "<algo>:" prefix');
    algIndex = matchAt(ALG_BYTES, input, dAt, colon);
    if (algIndex < 0) {
      const shown = JSON.stringify(String.fromCharCode(...input.subarray(dAt, Math.min(colon, dAt + 32))));
      throw failAt('IMA_DIGEST_ALG_UNSUPPORTED', 'd-ng', dAt, `digest algorithm ${shown}`);
    }
    alg = FILE_DIGEST_ALGS[algIndex]!;
    hexAt = colon + 1;
  }
  if ((dEnd - hexAt) % 2 !== 0) throw failAt('IMA_ASCII_MALFORMED', 'digest', hexAt, 'digest is not hex');
  const dLen = (dEnd - hexAt) / 2;
  if (dLen !== HASH_SIZE[alg]) {
    throw failAt(
      'IMA_DIGEST_SIZE_MISMATCH',
      'digest',
      hexAt,
      `${alg} digest of ${dLen} bytes, expected ${HASH_SIZE[alg]}`,
    );
  }
  // Name, then for ima-sig and ima-buf the last field (after the last space; may be empty).
  const nAt = dEnd + 1;
  let nEnd = end;
  let xAt = -1;
  if (template === 'ima-sig' || template === 'ima-buf') {
    nEnd = input.lastIndexOf(SPACE, end - 1);
    if (nEnd < nAt)
      throw failAt('IMA_ASCII_MALFORMED', 'fields', nAt, `line ${line}: ${template} needs three fields`);
    xAt = nEnd + 1;
    if ((end - xAt) % 2 !== 0) {
      throw failAt('IMA_ASCII_MALFORMED', template === 'ima-sig' ? 'sig' : 'buf', xAt, 'field is not hex');
    }
  }
  const nameLen = nEnd - nAt;
  for (let i = nAt; i < nEnd; i++) {
    if (input[i] === 0) throw failAt('IMA_ASCII_MALFORMED', 'n', i, 'NUL inside the name');
  }
  if (template === 'ima' && nameLen > IMA_LIMITS.imaName) {
    throw failAt('LENGTH_TOO_LARGE', 'n', nAt, `name of ${nameLen} bytes over 255`);
  }
  const xLen = xAt < 0 ? 0 : (end - xAt) / 2;
  const algName = ALG_BYTES[algIndex]!;
  const dataLen =
    template === 'ima'
      ? 24 + nameLen
      : 4 + algName.length + 2 + dLen + 4 + nameLen + 1 + (xAt < 0 ? 0 : 4 + xLen);
  if (dataLen > IMA_LIMITS.templateData)
    throw failAt('LENGTH_TOO_LARGE', 'fields', dAt, `${dataLen} bytes of template data`);
  // Rebuild: template hash, then the template data in the binary layout (layout.ts).
  const width = HASH_SIZE[thAlg];
  if (state.used + width + dataLen > state.chunk.length) {
    state.chunk = new Uint8Array(Math.max(CHUNK, width + dataLen));
    state.view = new DataView(state.chunk.buffer);
    state.used = 0;
  }
  const bytes = state.chunk;
  const view = state.view;
  const at = state.used;
  state.used += width + dataLen;
  unhex(input, thAt, thEnd, bytes, at); // checked above
  let w = at + width;
  const dataAt = w;
  let digestAt: number;
  let pathAt: number;
  let extraAt = -1;
  if (template === 'ima') {
    digestAt = w;
    if (!unhex(input, hexAt, dEnd, bytes, w)) throw notHex('digest', hexAt);
    view.setUint32(w + 20, nameLen, true);
    pathAt = w + 24;
    copy(input, nAt, nEnd, bytes, pathAt);
  } else {
    view.setUint32(w, algName.length + 2 + dLen, true);
    w += 4;
    bytes.set(algName, w);
    w += algName.length;
    bytes[w] = 0x3a;
    bytes[w + 1] = 0;
    w += 2;
    digestAt = w;
    if (!unhex(input, hexAt, dEnd, bytes, w)) throw notHex('digest', hexAt);
    w += dLen;
    view.setUint32(w, nameLen + 1, true);
    w += 4;
    pathAt = w;
    copy(input, nAt, nEnd, bytes, w);
    w += nameLen;
    bytes[w++] = 0;
    if (xAt >= 0) {
      view.setUint32(w, xLen, true);
      extraAt = w + 4;
      if (!unhex(input, xAt, end, bytes, extraAt)) throw notHex(template === 'ima-sig' ? 'sig' : 'buf', xAt);
    }
  }
  let violation = true;
  for (let i = at; i < at + width; i++) {
    if (bytes[i] !== 0) {
      violation = false;
      break;
    }
  }
  slots.offset = base + start;
  slots.pcr = pcr;
  slots.template = template;
  slots.digestAlg = alg;
  slots.violation = violation;
  slots.hashAt = at;
  slots.dataAt = dataAt;
  slots.dataLength = dataLen;
  slots.digestAt = digestAt;
  slots.pathAt = pathAt;
  slots.pathLength = nameLen;
  slots.extraAt = extraAt;
  slots.extraLength = xLen;
  out.push(bytes, slots);
}

/**
 * The line being read, for its errors: set at the start of each readLine (synchronous, so never
 * shared), read only when an error is built; a closure per line would cost more than the line.
 */
const current = { index: 0, base: 0, start: 0 };

function failAt(
  code: ConstructorParameters<typeof ImaParseError>[0],
  field: string,
  offset: number,
  detail: string,
) {
  const { index, base, start } = current;
  return new ImaParseError(code, index, base + start, field, base + offset, detail);
}

function notHex(field: string, offset: number): ImaParseError {
  return failAt(
    'IMA_ASCII_MALFORMED',
    field,
    offset,
    `${field === 'digest' ? 'digest' : 'field'} is not hex`,
  );
}
