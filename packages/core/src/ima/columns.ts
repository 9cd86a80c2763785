import { HASH_SIZE } from '../crypto/hash.ts';
import type { ColumnBuilder } from './column-builder.ts';
import { hexSpan, pathText } from './strings.ts';
import {
  FILE_DIGEST_ALGS,
  type FileDigestAlg,
  ImaEntry,
  TEMPLATES,
  type TemplateHashAlg,
  type TemplateName,
} from './types.ts';

// A parsed measurement list as typed-array columns: one slot per entry in each column, no
// per-entry JS object. A 300,000-entry list holds 12 MB of columns here against 45 MB of
// ImaEntry objects, and nothing the parse allocates per entry outlives it, so nothing is copied
// through V8's young generation and promoted (bench/ima.bench.ts: with Node's default flags the
// object path peaks about 145 MB higher). ImaEntry stays the object API; `entry(i)` builds one
// on demand over the same bytes.

/** Entries of a measurement list as columns; column i of every array is entry `firstIndex + i`. */
export class ImaColumns {
  /** Entries held. */
  readonly length: number;
  /** Index of the first entry in the whole list (a delta's firstIndex). */
  readonly firstIndex: number;
  /** Algorithm of every logged template hash (sha1; a per-bank list's bank). */
  readonly templateHashAlg: TemplateHashAlg;
  /** The byte strings entries point into: the binary log itself (one), or an ASCII parse's rebuilt chunks. */
  readonly buffers: readonly Uint8Array[];
  /** Which of `buffers` each entry is in; null when there is one. */
  readonly bufferOf: Uint32Array | null;
  readonly offset: Uint32Array;
  readonly pcr: Uint8Array;
  /** Index into TEMPLATES. */
  readonly template: Uint8Array;
  /** Index into FILE_DIGEST_ALGS. */
  readonly digestAlg: Uint8Array;
  /** 1 for a violation (all-zero template hash). */
  readonly violation: Uint8Array;
  readonly hashAt: Uint32Array;
  readonly dataAt: Uint32Array;
  readonly dataLength: Uint32Array;
  readonly digestAt: Uint32Array;
  readonly pathAt: Uint32Array;
  readonly pathLength: Uint32Array;
  /** Meaningful only for ima-sig and ima-buf (the templates with an extra field). */
  readonly extraAt: Uint32Array;
  readonly extraLength: Uint32Array;

  /** @internal Built by ColumnBuilder; the columns are views of its arrays (no copy). */
  constructor(b: ColumnBuilder) {
    const n = b.length;
    this.length = n;
    this.firstIndex = b.firstIndex;
    this.templateHashAlg = b.templateHashAlg;
    this.buffers = b.buffers;
    this.bufferOf = b.buffers.length > 1 ? b.bufferOf.subarray(0, n) : null;
    this.offset = b.offset.subarray(0, n);
    this.pcr = b.pcr.subarray(0, n);
    this.template = b.template.subarray(0, n);
    this.digestAlg = b.digestAlg.subarray(0, n);
    this.violation = b.violation.subarray(0, n);
    this.hashAt = b.hashAt.subarray(0, n);
    this.dataAt = b.dataAt.subarray(0, n);
    this.dataLength = b.dataLength.subarray(0, n);
    this.digestAt = b.digestAt.subarray(0, n);
    this.pathAt = b.pathAt.subarray(0, n);
    this.pathLength = b.pathLength.subarray(0, n);
    this.extraAt = b.extraAt.subarray(0, n);
    this.extraLength = b.extraLength.subarray(0, n);
  }

  /** The bytes entry i's offsets point into. */
  bytesOf(i: number): Uint8Array {
    return this.buffers[this.bufferOf === null ? 0 : this.bufferOf[i]!]!;
  }

  templateOf(i: number): TemplateName {
    return TEMPLATES[this.template[i]!]!;
  }

  algOf(i: number): FileDigestAlg {
    return FILE_DIGEST_ALGS[this.digestAlg[i]!]!;
  }

  /** File (or buffer) digest of entry i, lower-case hex. */
  digest(i: number): string {
    const at = this.digestAt[i]!;
    return hexSpan(this.bytesOf(i), at, at + HASH_SIZE[this.algOf(i)]);
  }

  /** The name of entry i; bytes that are not UTF-8 as U+DC80..U+DCFF (see ImaEntry.path). */
  path(i: number): string {
    const at = this.pathAt[i]!;
    return pathText(this.bytesOf(i), at, at + this.pathLength[i]!);
  }

  /** Entry i as an ImaEntry over the same bytes. */
  entry(i: number): ImaEntry {
    const t = this.templateOf(i);
    const extra = t === 'ima-sig' || t === 'ima-buf';
    return new ImaEntry(
      this.firstIndex + i,
      this.offset[i]!,
      this.pcr[i]!,
      t,
      this.algOf(i),
      this.violation[i] === 1,
      this.bytesOf(i),
      this.hashAt[i]!,
      this.dataAt[i]!,
      this.dataLength[i]!,
      this.digestAt[i]!,
      this.pathAt[i]!,
      this.pathLength[i]!,
      extra ? this.extraAt[i]! : -1,
      extra ? this.extraLength[i]! : 0,
      this.templateHashAlg,
    );
  }

  /** Every entry as an ImaEntry (the object API). */
  entries(): ImaEntry[] {
    const out = new Array<ImaEntry>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.entry(i);
    return out;
  }
}
