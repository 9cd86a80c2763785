import { ImaColumns } from './columns.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  type ImaEntry,
  TEMPLATES,
  type TemplateHashAlg,
  type TemplateName,
} from './types.ts';

// How the parsers fill columns: each entry's fields go into one reused EntrySlots (no object
// per entry), then into growable typed arrays, trimmed (as views, no copy) into ImaColumns.

/** The fields of one entry, as the parsers find them (see ImaEntry for their meaning). */
export interface EntrySlots {
  offset: number;
  pcr: number;
  template: TemplateName;
  digestAlg: FileDigestAlg;
  violation: boolean;
  hashAt: number;
  dataAt: number;
  dataLength: number;
  digestAt: number;
  pathAt: number;
  pathLength: number;
  /** -1 when the template has no `sig`/`buf` field. */
  extraAt: number;
  extraLength: number;
}

/** Slots for a parser to fill, one entry at a time. */
export function emptySlots(): EntrySlots {
  return {
    offset: 0,
    pcr: 0,
    template: 'ima-ng',
    digestAlg: 'sha256',
    violation: false,
    hashAt: 0,
    dataAt: 0,
    dataLength: 0,
    digestAt: 0,
    pathAt: 0,
    pathLength: 0,
    extraAt: -1,
    extraLength: 0,
  };
}

/** Sets every slot of `s`. */
export function fill(
  s: EntrySlots,
  offset: number,
  pcr: number,
  template: TemplateName,
  digestAlg: FileDigestAlg,
  violation: boolean,
  hashAt: number,
  dataAt: number,
  dataLength: number,
  digestAt: number,
  pathAt: number,
  pathLength: number,
  extraAt: number,
  extraLength: number,
): void {
  s.offset = offset;
  s.pcr = pcr;
  s.template = template;
  s.digestAlg = digestAlg;
  s.violation = violation;
  s.hashAt = hashAt;
  s.dataAt = dataAt;
  s.dataLength = dataLength;
  s.digestAt = digestAt;
  s.pathAt = pathAt;
  s.pathLength = pathLength;
  s.extraAt = extraAt;
  s.extraLength = extraLength;
}

const TEMPLATE_CODE = new Map<string, number>(TEMPLATES.map((t, i) => [t, i]));
const ALG_CODE = new Map<string, number>(FILE_DIGEST_ALGS.map((a, i) => [a, i]));

/** Growable columns that the parsers append to; `finish()` trims them into ImaColumns. */
export class ColumnBuilder {
  length = 0;
  readonly firstIndex: number;
  /** Of every entry's logged template hash (one list, one algorithm). */
  templateHashAlg: TemplateHashAlg = 'sha1';
  readonly buffers: Uint8Array[] = [];
  bufferOf: Uint32Array;
  offset: Uint32Array;
  pcr: Uint8Array;
  template: Uint8Array;
  digestAlg: Uint8Array;
  violation: Uint8Array;
  hashAt: Uint32Array;
  dataAt: Uint32Array;
  dataLength: Uint32Array;
  digestAt: Uint32Array;
  pathAt: Uint32Array;
  pathLength: Uint32Array;
  extraAt: Uint32Array;
  extraLength: Uint32Array;

  constructor(firstIndex: number, capacity = 256) {
    const n = Math.max(16, capacity);
    this.firstIndex = firstIndex;
    this.bufferOf = new Uint32Array(n);
    this.offset = new Uint32Array(n);
    this.pcr = new Uint8Array(n);
    this.template = new Uint8Array(n);
    this.digestAlg = new Uint8Array(n);
    this.violation = new Uint8Array(n);
    this.hashAt = new Uint32Array(n);
    this.dataAt = new Uint32Array(n);
    this.dataLength = new Uint32Array(n);
    this.digestAt = new Uint32Array(n);
    this.pathAt = new Uint32Array(n);
    this.pathLength = new Uint32Array(n);
    this.extraAt = new Uint32Array(n);
    this.extraLength = new Uint32Array(n);
  }

  /** Appends one entry whose offsets point into `bytes`. */
  push(bytes: Uint8Array, s: EntrySlots): void {
    if (this.length === this.offset.length) this.grow();
    const i = this.length++;
    const last = this.buffers.length - 1;
    if (last < 0 || this.buffers[last] !== bytes) {
      // A streamed parse pushes chunk after chunk; an earlier one is never seen again, but a
      // list of entries from several buffers may alternate, so look back before adding.
      const known = this.buffers.lastIndexOf(bytes);
      if (known < 0) this.buffers.push(bytes);
      this.bufferOf[i] = known < 0 ? this.buffers.length - 1 : known;
    } else this.bufferOf[i] = last;
    this.offset[i] = s.offset;
    this.pcr[i] = s.pcr;
    this.template[i] = TEMPLATE_CODE.get(s.template)!;
    this.digestAlg[i] = ALG_CODE.get(s.digestAlg)!;
    this.violation[i] = s.violation ? 1 : 0;
    this.hashAt[i] = s.hashAt;
    this.dataAt[i] = s.dataAt;
    this.dataLength[i] = s.dataLength;
    this.digestAt[i] = s.digestAt;
    this.pathAt[i] = s.pathAt;
    this.pathLength[i] = s.pathLength;
    this.extraAt[i] = Math.max(s.extraAt, 0);
    this.extraLength[i] = s.extraLength;
  }

  finish(): ImaColumns {
    return new ImaColumns(this);
  }

  private grow(): void {
    const n = this.offset.length * 2;
    const g = <T extends Uint8Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.bufferOf = g(this.bufferOf);
    this.offset = g(this.offset);
    this.pcr = g(this.pcr);
    this.template = g(this.template);
    this.digestAlg = g(this.digestAlg);
    this.violation = g(this.violation);
    this.hashAt = g(this.hashAt);
    this.dataAt = g(this.dataAt);
    this.dataLength = g(this.dataLength);
    this.digestAt = g(this.digestAt);
    this.pathAt = g(this.pathAt);
    this.pathLength = g(this.pathLength);
    this.extraAt = g(this.extraAt);
    this.extraLength = g(this.extraLength);
  }
}

/**
 * Columns over entries from any source (an ASCII parse, a concatenation of deltas). The
 * entries must be consecutive: entry i of the columns is taken to have index firstIndex + i.
 */
export function columnsOf(entries: readonly ImaEntry[], firstIndex = entries[0]?.index ?? 0): ImaColumns {
  const b = new ColumnBuilder(firstIndex, entries.length);
  b.templateHashAlg = entries[0]?.templateHashAlg ?? 'sha1';
  for (const e of entries) b.push(e.bytes, e);
  return b.finish();
}
