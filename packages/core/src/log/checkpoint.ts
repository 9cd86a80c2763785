import { fromBase64, toBase64 } from '../bytes/encoding.ts';
import { CoreError, type CoreErrorCode } from '../errors.ts';
import { LOG_HASH_SIZE } from './hash.ts';
import { parseNote, signNote, verifyNote } from './note.ts';
import type { NoteSigner, NoteVerifier } from './vkey.ts';

// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint), section "Note text"; docs/checkpoint.md.

/** A log's tree head: the text of a checkpoint note. */
export interface Checkpoint {
  /** Unique identity of the log; for TMB the agent's name (docs/checkpoint.md). */
  origin: string;
  /** Number of leaves. A safe integer: sizes above 2^53 - 1 are refused (INTEGER_OUT_OF_RANGE). */
  size: number;
  /** RFC 6962 root hash at `size`, 32 bytes. */
  root: Uint8Array;
  /** Opaque extension lines, each non-empty. TMB writes none. */
  extensions: string[];
}

/** The result of openCheckpoint. */
export type CheckpointOpening =
  | { ok: true; checkpoint: Checkpoint; text: string; verifiedBy: string[]; detail: string }
  | { ok: false; code: CoreErrorCode; detail: string };

function malformed(detail: string, cause?: unknown): CoreError {
  return new CoreError('CHECKPOINT_MALFORMED', detail, cause === undefined ? undefined : { cause });
}

/**
 * The note text of a checkpoint: origin, decimal size, base64 root, extension lines, each
 * ending in a newline.
 * @throws CoreError CHECKPOINT_MALFORMED when a field breaks the format (programmer error).
 */
export function formatCheckpoint(cp: Checkpoint): string {
  if (cp.origin.length === 0 || /[\n\u0000-\u001f]/.test(cp.origin)) throw malformed('invalid origin');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw malformed(`invalid size ${cp.size}`);
  if (cp.root.length !== LOG_HASH_SIZE) throw malformed('root hash must be 32 bytes');
  for (const e of cp.extensions)
    if (e.length === 0 || /[\u0000-\u001f]/.test(e)) throw malformed('invalid extension');
  return [cp.origin, String(cp.size), toBase64(cp.root), ...cp.extensions].map((l) => `${l}\n`).join('');
}

/**
 * Parses checkpoint note text strictly: at least three non-empty lines, each ending in a
 * newline; size in decimal without leading zeros (only "0" may start with 0); root the canonical
 * base64 of exactly 32 bytes; extension lines non-empty.
 * @throws CoreError CHECKPOINT_MALFORMED | INTEGER_OUT_OF_RANGE (size above 2^53 - 1)
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw malformed('text does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed(`${lines.length} lines, at least 3 needed`);
  if (lines.some((l) => l.length === 0)) throw malformed('an empty line');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (/[\u0000-\u001f]/.test(text.replaceAll('\n', ''))) throw malformed('a control character');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
    throw malformed(`size ${JSON.stringify(sizeText.slice(0, 24))} is not minimal decimal`);
  const size = Number(sizeText);
  if (sizeText.length > 16 || !Number.isSafeInteger(size))
    throw new CoreError('INTEGER_OUT_OF_RANGE', `tree size ${sizeText.slice(0, 24)} above 2^53 - 1`);
  let root: Uint8Array;
  try {
    root = fromBase64(rootText);
  } catch (cause) {
    throw malformed('root hash is not canonical base64', cause);
  }
  if (root.length !== LOG_HASH_SIZE) throw malformed(`root hash of ${root.length} bytes, 32 expected`);
  return { origin, size, root, extensions };
}

/** Formats and signs a checkpoint; the log's signer name should be its origin (C2SP). */
export function signCheckpoint(cp: Checkpoint, signers: readonly NoteSigner[]): Promise<string> {
  return signNote(formatCheckpoint(cp), signers);
}

/**
 * Parses a checkpoint note, verifies its signatures against known keys and, when `origin` is
 * given, that the checkpoint names it. Never throws for bad input: every failure is returned
 * with its code (NOTE_*, CHECKPOINT_*, INTEGER_OUT_OF_RANGE).
 *
 * @example
 *   const r = openCheckpoint(noteBytes, [parseVerifierKey(vkey)], 'agent-7');
 *   if (r.ok) verifyInclusion(leafHash(receipt), proof, r.checkpoint.root);
 */
export function openCheckpoint(
  note: Uint8Array | string,
  verifiers: readonly NoteVerifier[],
  origin?: string,
): CheckpointOpening {
  try {
    const opened = verifyNote(parseNote(note), verifiers);
    if (!opened.ok) return opened;
    const checkpoint = parseCheckpoint(opened.text);
    if (origin !== undefined && checkpoint.origin !== origin)
      return {
        ok: false,
        code: 'CHECKPOINT_ORIGIN_MISMATCH',
        detail: `checkpoint names origin ${JSON.stringify(checkpoint.origin)}, expected ${JSON.stringify(origin)}`,
      };
    return {
      ok: true,
      checkpoint,
      text: opened.text,
      verifiedBy: opened.verifiedBy,
      detail: `checkpoint of ${checkpoint.origin} at size ${checkpoint.size}, ${opened.detail}`,
    };
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { ok: false, code: err.code, detail: err.message };
  }
}
