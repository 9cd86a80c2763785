import { HASH_SIZE } from '../crypto/hash.ts';
import type { ColumnBuilder, emptySlots } from './column-builder.ts';
import { ImaParseError } from './error.ts';
import { copy, hexOk, matchAt, nextSpace as next, SPACE, unhex } from './strings.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  IMA_LIMITS,
  TEMPLATES,
  type TemplateHashAlg,
} from './types.ts';

// One line of the ASCII list (ascii.ts has the format), read field by field, each field's
// checks in its own step, and rebuilt in the binary layout.

const TEMPLATE_BYTES = TEMPLATES.map((t) => Uint8Array.from(t, (c) => c.charCodeAt(0)));
const ALG_BYTES = FILE_DIGEST_ALGS.map((a) => Uint8Array.from(a, (c) => c.charCodeAt(0)));
/** Template hash algorithm by hex width. */
const ALG_BY_HEX = new Map<number, TemplateHashAlg>(FILE_DIGEST_ALGS.map((a) => [2 * HASH_SIZE[a], a]));
const CHUNK = 1 << 20;

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

type Slots = ReturnType<typeof emptySlots>;

/**
 * The fields of the line being read, found by the steps of readLine: one object reused for every
 * line (parsing is synchronous, so it is never shared), read when an error is built or the entry
 * rebuilt; a fresh object per line would cost more than the line.
 */
const cur = {
  index: 0,
  base: 0,
  start: 0,
  end: 0,
  /** The line of this input, from 1, for people. */
  line: 0,
  pcr: 0,
  thAt: 0,
  thEnd: 0,
  thAlg: 'sha1' as TemplateHashAlg,
  template: 'ima' as (typeof TEMPLATES)[number],
  tEnd: 0,
  dAt: 0,
  dEnd: 0,
  hexAt: 0,
  alg: 'sha1' as FileDigestAlg,
  algIndex: 0,
  dLen: 0,
  nAt: 0,
  nEnd: 0,
  /** The ima-sig / ima-buf last field's first hex digit; -1: none. */
  xAt: -1,
  xLen: 0,
  dataLen: 0,
};

/** One line, start to end (the LF or the input's end), into `out`: each step reads one field. */
export function readLine(
  input: Uint8Array,
  start: number,
  end: number,
  index: number,
  base: number,
  out: ColumnBuilder,
  slots: Slots,
  state: AsciiState,
): void {
  cur.index = index;
  cur.base = base;
  cur.start = start;
  cur.end = end;
  cur.line = index - out.firstIndex + 1;
  checkLineEnds(input);
  readPcr(input);
  readTemplateHash(input, out, state);
  readTemplateName(input);
  readDigest(input);
  readNameAndLast(input);
  rebuild(input, slots, state);
  out.push(state.chunk, slots);
}

/** A byte-order mark, an empty line or a CR LF: what an editor or a copy adds, named as such. */
function checkLineEnds(input: Uint8Array): void {
  const { start, end, line } = cur;
  if (cur.base + start === 0 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf) {
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
}

/** PCR: "%2d", so " 9" or "10"; leaves cur.thAt at the template hash. */
function readPcr(input: Uint8Array): void {
  const end = cur.end;
  let p = cur.start;
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
      `line ${cur.line}: expected "PCR TEMPLATE-HASH TEMPLATE FIELDS"`,
    );
  }
  if (pcr >= IMA_LIMITS.pcrs) throw failAt('IMA_PCR_INDEX_INVALID', 'pcr', pcrAt, `PCR ${pcr} is not 0..23`);
  cur.pcr = pcr;
  cur.thAt = p + 1;
}

/** Template hash: its width tells the list (sha1: 40 hex digits; a per-bank list's bank). */
function readTemplateHash(input: Uint8Array, out: ColumnBuilder, state: AsciiState): void {
  const { thAt, end, line } = cur;
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
  cur.thEnd = thEnd;
  cur.thAlg = thAlg;
}

/** The template's name, one of TEMPLATES. */
function readTemplateName(input: Uint8Array): void {
  const { end, line } = cur;
  const tAt = cur.thEnd + 1;
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
  if (tEnd >= end) {
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'fields',
      tEnd,
      `line ${line}: ${template} needs a digest and a name`,
    );
  }
  cur.template = template;
  cur.tEnd = tEnd;
}

/** Digest: "<algo>:<hex>", or bare SHA-1 hex for `ima`; its size must be the algorithm's. */
function readDigest(input: Uint8Array): void {
  const { end, line, template } = cur;
  const dAt = cur.tEnd + 1;
  const dEnd = next(input, dAt, end);
  if (dEnd >= end) {
    throw failAt(
      'IMA_ASCII_MALFORMED',
      'fields',
      dEnd,
      `line ${line}: ${template} needs a name after the digest`,
    );
  }
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
  cur.dAt = dAt;
  cur.dEnd = dEnd;
  cur.hexAt = hexAt;
  cur.alg = alg;
  cur.algIndex = algIndex;
  cur.dLen = dLen;
}

/** Name, then for ima-sig and ima-buf the last field (after the last space; may be empty); the
 * size of the template data they make. */
function readNameAndLast(input: Uint8Array): void {
  const { end, line, template } = cur;
  const nAt = cur.dEnd + 1;
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
  const dataLen =
    template === 'ima'
      ? 24 + nameLen
      : 4 + ALG_BYTES[cur.algIndex]!.length + 2 + cur.dLen + 4 + nameLen + 1 + (xAt < 0 ? 0 : 4 + xLen);
  if (dataLen > IMA_LIMITS.templateData) {
    throw failAt('LENGTH_TOO_LARGE', 'fields', cur.dAt, `${dataLen} bytes of template data`);
  }
  cur.nAt = nAt;
  cur.nEnd = nEnd;
  cur.xAt = xAt;
  cur.xLen = xLen;
  cur.dataLen = dataLen;
}

/** Rebuilds the entry into state.chunk: template hash, then the template data in the binary
 * layout (layout.ts); fills `slots` with where each part lies. */
function rebuild(input: Uint8Array, slots: Slots, state: AsciiState): void {
  const { template, hexAt, dEnd, nAt, nEnd, xAt, xLen, dataLen, end } = cur;
  const width = HASH_SIZE[cur.thAlg];
  if (state.used + width + dataLen > state.chunk.length) {
    state.chunk = new Uint8Array(Math.max(CHUNK, width + dataLen));
    state.view = new DataView(state.chunk.buffer);
    state.used = 0;
  }
  const bytes = state.chunk;
  const view = state.view;
  const at = state.used;
  state.used += width + dataLen;
  unhex(input, cur.thAt, cur.thEnd, bytes, at); // checked by readTemplateHash
  const nameLen = nEnd - nAt;
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
    const algName = ALG_BYTES[cur.algIndex]!;
    view.setUint32(w, algName.length + 2 + cur.dLen, true);
    w += 4;
    bytes.set(algName, w);
    w += algName.length;
    bytes[w] = 0x3a;
    bytes[w + 1] = 0;
    w += 2;
    digestAt = w;
    if (!unhex(input, hexAt, dEnd, bytes, w)) throw notHex('digest', hexAt);
    w += cur.dLen;
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
  slots.offset = cur.base + cur.start;
  slots.pcr = cur.pcr;
  slots.template = template;
  slots.digestAlg = cur.alg;
  slots.violation = violation;
  slots.hashAt = at;
  slots.dataAt = dataAt;
  slots.dataLength = dataLen;
  slots.digestAt = digestAt;
  slots.pathAt = pathAt;
  slots.pathLength = nameLen;
  slots.extraAt = extraAt;
  slots.extraLength = xLen;
}

function failAt(
  code: ConstructorParameters<typeof ImaParseError>[0],
  field: string,
  offset: number,
  detail: string,
) {
  const { index, base, start } = cur;
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
