import { HASH_SIZE } from '../crypto/hash.ts';
import { ImaParseError } from './error.ts';
import { templateDataSize, writeTemplateData } from './layout.ts';
import { parseHex, utf8Span } from './strings.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  IMA_LIMITS,
  ImaEntry,
  type ParseOptions,
  TEMPLATES,
  type TemplateName,
} from './types.ts';

// The ASCII list, /sys/kernel/security/ima/ascii_runtime_measurements, one entry a line
// (ima_fs.c, ima_ascii_measurements_show): "%2d" PCR, the SHA-1 template hash in hex, the
// template name, then a space before every field, each field as text:
//   10 <sha1 hex> ima-ng sha256:<hex> /usr/bin/bash
//   10 <sha1 hex> ima-sig sha256:<hex> /usr/bin/ls <signature hex, possibly empty>
//   10 <sha1 hex> ima <sha1 hex> /usr/bin/bash
// Names never hold a space: the kernel writes `_` instead (ima_template_lib.c, DATA_FMT_STRING).
// Each entry's template data is rebuilt in the binary layout, so replay treats both forms alike.

const ALGS = new Map<string, FileDigestAlg>(FILE_DIGEST_ALGS.map((a) => [a, a]));
const TEMPLATE_SET = new Set<string>(TEMPLATES);
const encoder = new TextEncoder();
const CHUNK = 1 << 20;

/**
 * Parses the ASCII form. Offsets are byte offsets into `input`.
 * @throws ImaParseError IMA_ASCII_MALFORMED, IMA_TEMPLATE_UNKNOWN, IMA_DIGEST_ALG_UNSUPPORTED,
 *   IMA_DIGEST_SIZE_MISMATCH, IMA_PATH_NOT_UTF8, IMA_PCR_INDEX_INVALID, LENGTH_TOO_LARGE
 */
export function parseAsciiLog(input: Uint8Array, options: ParseOptions = {}): ImaEntry[] {
  const first = options.firstIndex ?? 0;
  const max = options.maxEntries ?? IMA_LIMITS.entries;
  const out: ImaEntry[] = [];
  const arena = { chunk: new Uint8Array(0), used: 0 };
  let start = 0;
  while (start < input.length) {
    let end = input.indexOf(0x0a, start);
    if (end < 0) end = input.length;
    const index = first + out.length;
    if (out.length >= max) {
      throw new ImaParseError('LENGTH_TOO_LARGE', index, start, 'entries', start, `over ${max} entries`);
    }
    out.push(readLine(input, start, end, index, arena));
    start = end + 1;
  }
  return out;
}

function readLine(input: Uint8Array, start: number, end: number, index: number, arena: Arena): ImaEntry {
  const fail = (code: ConstructorParameters<typeof ImaParseError>[0], field: string, at: number, d: string) =>
    new ImaParseError(code, index, start, field, start + at, d);
  const line = utf8Span(input, start, end);
  if (line === null) throw fail('IMA_PATH_NOT_UTF8', 'line', 0, 'line is not UTF-8');
  const m = /^ ?(\d{1,2}) ([0-9a-f]{40}) (\S+) /.exec(line);
  if (m === null)
    throw fail('IMA_ASCII_MALFORMED', 'line', 0, 'expected "PCR TEMPLATE-HASH TEMPLATE FIELDS"');
  const pcr = Number(m[1]);
  if (pcr >= IMA_LIMITS.pcrs) throw fail('IMA_PCR_INDEX_INVALID', 'pcr', 0, `PCR ${pcr} is not 0..23`);
  const name = m[3]!;
  const nameAt = m[0].length - name.length - 1;
  if (!TEMPLATE_SET.has(name)) {
    throw fail('IMA_TEMPLATE_UNKNOWN', 'template name', nameAt, `template ${JSON.stringify(name)}`);
  }
  const template = name as TemplateName;
  const rest = line.slice(m[0].length);
  const restAt = m[0].length;
  const firstSpace = rest.indexOf(' ');
  if (firstSpace < 0)
    throw fail('IMA_ASCII_MALFORMED', 'fields', restAt, `${template} needs a digest and a name`);
  const dText = rest.slice(0, firstSpace);
  let path: string;
  let extraText: string | null = null;
  if (template === 'ima-sig' || template === 'ima-buf') {
    const last = rest.lastIndexOf(' ');
    if (last === firstSpace)
      throw fail('IMA_ASCII_MALFORMED', 'fields', restAt, `${template} needs three fields`);
    path = rest.slice(firstSpace + 1, last);
    extraText = rest.slice(last + 1);
  } else {
    path = rest.slice(firstSpace + 1);
  }
  let alg: FileDigestAlg = 'sha1';
  let hex = dText;
  if (template !== 'ima') {
    const colon = dText.indexOf(':');
    if (colon < 0) throw fail('IMA_ASCII_MALFORMED', 'd-ng', restAt, 'digest has no "<algo>:" prefix');
    const a = ALGS.get(dText.slice(0, colon));
    if (a === undefined) {
      throw fail(
        'IMA_DIGEST_ALG_UNSUPPORTED',
        'd-ng',
        restAt,
        `digest algorithm ${JSON.stringify(dText.slice(0, colon))}`,
      );
    }
    alg = a;
    hex = dText.slice(colon + 1);
  }
  const digest = parseHex(hex);
  if (digest === null) throw fail('IMA_ASCII_MALFORMED', 'digest', restAt, 'digest is not hex');
  if (digest.length !== HASH_SIZE[alg]) {
    throw fail(
      'IMA_DIGEST_SIZE_MISMATCH',
      'digest',
      restAt,
      `${alg} digest of ${digest.length} bytes, expected ${HASH_SIZE[alg]}`,
    );
  }
  const extra = extraText === null ? null : parseHex(extraText);
  if (extraText !== null && extra === null) {
    throw fail('IMA_ASCII_MALFORMED', template === 'ima-sig' ? 'sig' : 'buf', restAt, 'field is not hex');
  }
  const nameBytes = encoder.encode(path);
  if (template === 'ima' && nameBytes.length > IMA_LIMITS.imaName) {
    throw fail(
      'LENGTH_TOO_LARGE',
      'n',
      restAt + firstSpace + 1,
      `name of ${nameBytes.length} bytes over 255`,
    );
  }
  const th = parseHex(m[2]!)!;
  const parts = { template, alg, digest, name: nameBytes, extra };
  const dataLen = templateDataSize(parts);
  if (dataLen > IMA_LIMITS.templateData)
    throw fail('LENGTH_TOO_LARGE', 'fields', restAt, `${dataLen} bytes of template data`);
  const { bytes, at } = reserve(arena, 20 + dataLen);
  bytes.set(th, at);
  const spans = writeTemplateData(bytes, at + 20, parts);
  let violation = true;
  for (let i = 0; i < 20; i++) if (th[i] !== 0) violation = false;
  const { digestAt, pathAt, extraAt } = spans;
  const n = extra?.length ?? 0;
  return new ImaEntry(
    index,
    start,
    pcr,
    template,
    alg,
    violation,
    bytes,
    at,
    at + 20,
    dataLen,
    digestAt,
    pathAt,
    nameBytes.length,
    extraAt,
    n,
  );
}

interface Arena {
  chunk: Uint8Array;
  used: number;
}

/** Space for one entry in the current chunk; a full chunk is left to the entries that use it. */
function reserve(arena: Arena, n: number): { bytes: Uint8Array; at: number } {
  if (arena.used + n > arena.chunk.length) {
    arena.chunk = new Uint8Array(Math.max(CHUNK, n));
    arena.used = 0;
  }
  const at = arena.used;
  arena.used += n;
  return { bytes: arena.chunk, at };
}
