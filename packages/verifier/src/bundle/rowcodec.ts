import { createHash } from 'node:crypto';
import type { ArchivedQuote } from './archive.ts';

/**
 * The text of an archived quote row (store: bundle_quotes.quote, docs/bundle.md "At the verifier"):
 * the ArchivedQuote as JSON, in which members that repeat in a boot (`SAME_MEMBERS`: the AK, EK,
 * its certificate, the TPM key, the checkpoint key, the boot log) may be written `{"=":"<ref>"}`
 * in their place (rows written before this have none: they read as they are). The value is the
 * one an earlier row of the same boot holds for that member whose ref is `<ref>` (memberRef).
 * Decoding gives back the ArchivedQuote as it was encoded, key order included: bundles are served
 * byte-identical. A row that does not parse, or a reference no earlier row resolves, is an
 * ArchiveRowError (its bundle is not served), never a wrong value.
 *
 * Measured (issue 12, session 14: 3,000 rows of the scale bench's agents): the rows after a boot's
 * first are 5.8 KB of JSON, 3.3 KB with references; PostgreSQL stores 2.2 KB of them (its TOAST
 * compression: 4.6 KB before), 2.9 KB with the indexes (6.1 KB before), and spends ~100 µs less
 * per insert. deflateRaw on top saved 4 % more on PostgreSQL and 11 % on SQLite for 60-100 µs
 * more CPU per row than it saved: not done.
 */
/** Members written once per boot and referenced after (by ref: the value's hash prefix). */
export const SAME_MEMBERS = [
  'akPublic',
  'ekPublic',
  'ekCertificate',
  'tpmKey',
  'checkpointKey',
  'boot',
] as const;
/** A member of SAME_MEMBERS. */
export type SameMember = (typeof SAME_MEMBERS)[number];

/** Why an archived row does not decode (its bundle is not served: BUNDLE_NOT_READY with this message). */
export class ArchiveRowError extends Error {
  readonly code = 'ARCHIVE_ROW_INVALID';
}

/** Shortest JSON of a member's value written as a reference (a reference takes 24 characters). */
const MIN_REFERENCED = 32;

/** The reference of a member's value: SHA-256 of its JSON, first 12 bytes, base64url. */
export function memberRef(value: unknown): string {
  return refOfJson(JSON.stringify(value));
}

function refOfJson(json: string | undefined): string {
  return createHash('sha256')
    .update(json ?? 'undefined')
    .digest()
    .subarray(0, 12)
    .toString('base64url');
}

/**
 * The row text of `q`, and the refs of its SAME_MEMBERS (what the writer keeps for the agent's
 * next row). `same`: the refs of the values an earlier row of the boot holds, as the writer knows
 * them; a member whose value has that ref is written as the reference.
 */
export function encodeRow(
  q: ArchivedQuote,
  same?: ReadonlyMap<SameMember, string>,
): { text: string; refs: Map<SameMember, string> } {
  const out: Record<string, unknown> = { ...q };
  const refs = new Map<SameMember, string>();
  for (const m of SAME_MEMBERS) {
    const json = JSON.stringify(q[m]);
    const ref = refOfJson(json);
    refs.set(m, ref);
    // A short value (null, a key id) is cheaper written out than referenced.
    if (json.length > MIN_REFERENCED && same?.get(m) === ref) out[m] = { '=': ref };
  }
  return { text: JSON.stringify(out), refs };
}

/** A reference in a decoded row, or undefined. */
function refOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const keys = Object.keys(v);
  const ref = (v as Record<string, unknown>)['='];
  return keys.length === 1 && typeof ref === 'string' ? ref : undefined;
}

/** The JSON object a row's text holds, references unresolved. */
function rowObject(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ArchiveRowError(`a row that is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ArchiveRowError('a row that is not a JSON object');
  return v as Record<string, unknown>;
}

/**
 * The ArchivedQuotes of rows of one boot, oldest first (as BundleArchive.judging reads them):
 * each reference resolves to an earlier row's value of that member with that hash.
 * @throws ArchiveRowError (code ARCHIVE_ROW_INVALID) naming the row's index in `texts`.
 */
export function decodeRows(texts: readonly string[]): ArchivedQuote[] {
  const out: ArchivedQuote[] = [];
  // Explicit values per member, oldest first; their refs computed only when a reference asks.
  const seen = new Map<SameMember, { v: unknown; ref?: string }[]>(SAME_MEMBERS.map((m) => [m, []]));
  for (let i = 0; i < texts.length; i++) {
    let o: Record<string, unknown>;
    try {
      o = rowObject(texts[i]!);
    } catch (err) {
      throw new ArchiveRowError(`row ${i} of the boot: ${(err as Error).message}`);
    }
    for (const m of SAME_MEMBERS) {
      const values = seen.get(m)!;
      const ref = refOf(o[m]);
      if (ref === undefined) {
        if (m in o) values.push({ v: o[m] });
        continue;
      }
      o[m] = resolve(values, ref, () => `row ${i} of the boot: its ${m} refers to no earlier row's value`);
    }
    out.push(o as unknown as ArchivedQuote);
  }
  return out;
}

/** The newest of `values` whose ref is `ref`. @throws ArchiveRowError with `why()` when none. */
function resolve(values: { v: unknown; ref?: string }[], ref: string, why: () => string): unknown {
  for (let j = values.length - 1; j >= 0; j--) {
    const e = values[j]!;
    e.ref ??= memberRef(e.v);
    if (e.ref === ref) return e.v;
  }
  throw new ArchiveRowError(why());
}
