import { concat, fromBase64, fromUtf8, toBase64, utf8 } from '../bytes/encoding.ts';
import { CoreError } from '../errors.ts';
import type { LogVerification } from './verify.ts';
import { isValidKeyName, type NoteSigner, type NoteVerifier } from './vkey.ts';

// C2SP signed-note v1.0.0 (https://c2sp.org/signed-note), section "Format".

/** Largest note parsed: 16 post-quantum signatures (~5 kB each, C2SP's minimum to accept) fit. */
export const MAX_NOTE_BYTES = 128 * 1024;
/** Most signature lines parsed (the Go reference implementation's limit; C2SP asks for >= 16). */
export const MAX_NOTE_SIGNATURES = 100;

const SIG_PREFIX = '\u2014 '; // em dash, space
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;

/** One signature line: key name, uint32 key ID and the signature bytes after the ID. */
export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

/** A note split into its text (with the final newline) and its signature lines, unverified. */
export interface Note {
  text: string;
  signatures: NoteSignature[];
}

/** The result of openNote: on success the text and the names of the keys that verified. */
export type NoteOpening =
  | (LogVerification & { ok: true; text: string; verifiedBy: string[] })
  | (LogVerification & { ok: false });

function malformed(detail: string, cause?: unknown): CoreError {
  return new CoreError('NOTE_MALFORMED', detail, cause === undefined ? undefined : { cause });
}

/**
 * Parses a signed note without verifying it: UTF-8 without control characters other than
 * newline, a text ending in a newline, a blank line (the last one in the note), then one or more
 * lines `— <key name> <base64(key ID ‖ signature)>`.
 * Attacker-controlled input: size and signature count are capped before any work.
 * @throws CoreError NOTE_TOO_LARGE | NOTE_MALFORMED
 */
export function parseNote(input: Uint8Array | string): Note {
  const size = typeof input === 'string' ? input.length : input.byteLength;
  if (size > MAX_NOTE_BYTES)
    throw new CoreError('NOTE_TOO_LARGE', `note of ${size} bytes over ${MAX_NOTE_BYTES}`);
  let note: string;
  try {
    note = typeof input === 'string' ? input : fromUtf8(input);
  } catch (cause) {
    throw malformed('note is not valid UTF-8', cause);
  }
  if (utf8(note).length > MAX_NOTE_BYTES)
    throw new CoreError('NOTE_TOO_LARGE', `note over ${MAX_NOTE_BYTES} bytes`);
  if (!note.isWellFormed()) throw malformed('note holds a lone surrogate');
  if (CONTROL.test(note)) throw malformed('note holds a control character other than newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('no blank line between text and signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n'))
    throw malformed('signature block missing or not newline-terminated');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES)
    throw new CoreError('NOTE_TOO_LARGE', `${lines.length} signatures over ${MAX_NOTE_SIGNATURES}`);
  return { text, signatures: lines.map(parseSignatureLine) };
}

function parseSignatureLine(line: string, i: number): NoteSignature {
  if (!line.startsWith(SIG_PREFIX))
    throw malformed(`signature line ${i + 1} does not start with an em dash and space`);
  const rest = line.slice(SIG_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? '' : rest.slice(0, space);
  if (!isValidKeyName(name)) throw malformed(`signature line ${i + 1} has no valid key name`);
  let blob: Uint8Array;
  try {
    blob = fromBase64(rest.slice(space + 1));
  } catch (cause) {
    throw malformed(`signature line ${i + 1} is not canonical base64`, cause);
  }
  if (blob.length < 5) throw malformed(`signature line ${i + 1} is shorter than a key ID and one byte`);
  const keyId = new DataView(blob.buffer, blob.byteOffset).getUint32(0, false);
  return { name, keyId, signature: blob.slice(4) };
}

/** The signature line for one signature, newline included. */
export function formatSignatureLine(sig: NoteSignature): string {
  const id = new Uint8Array(4);
  new DataView(id.buffer).setUint32(0, sig.keyId, false);
  return `${SIG_PREFIX}${sig.name} ${toBase64(concat(id, sig.signature))}\n`;
}

/**
 * Signs `text` with every signer, in order, and returns the note.
 * @throws CoreError NOTE_MALFORMED when text would not make a valid note (programmer error).
 */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  if (!text.endsWith('\n') || CONTROL.test(text) || !text.isWellFormed())
    throw malformed('note text must end in a newline and hold no control characters');
  if (signers.length === 0) throw malformed('a note needs at least one signer');
  const bytes = utf8(text);
  let note = `${text}\n`;
  for (const s of signers) {
    if (!isValidKeyName(s.name)) throw malformed(`invalid key name ${JSON.stringify(s.name)}`);
    note += formatSignatureLine({ name: s.name, keyId: s.keyId, signature: await s.sign(bytes) });
  }
  return note;
}

/**
 * Verifies a parsed note against known keys (C2SP signed-note, "Signatures"): lines of unknown
 * keys (name or key ID differ) are ignored; every line of a known key must verify
 * (NOTE_SIGNATURE_INVALID otherwise); at least one must (NOTE_NO_KNOWN_SIGNER otherwise).
 */
export function verifyNote(note: Note, verifiers: readonly NoteVerifier[]): NoteOpening {
  const bytes = utf8(note.text);
  const verifiedBy: string[] = [];
  for (const sig of note.signatures) {
    for (const v of verifiers) {
      if (v.name !== sig.name || v.keyId !== sig.keyId) continue;
      if (!v.verify(bytes, sig.signature))
        return {
          ok: false,
          code: 'NOTE_SIGNATURE_INVALID',
          detail: `signature by ${sig.name} does not verify`,
        };
      if (!verifiedBy.includes(v.name)) verifiedBy.push(v.name);
    }
  }
  if (verifiedBy.length === 0)
    return { ok: false, code: 'NOTE_NO_KNOWN_SIGNER', detail: 'no signature from a known key' };
  return { ok: true, text: note.text, verifiedBy, detail: `signed by ${verifiedBy.join(', ')}` };
}

/** parseNote then verifyNote; never throws for bad input, a parse failure is returned. */
export function openNote(input: Uint8Array | string, verifiers: readonly NoteVerifier[]): NoteOpening {
  try {
    return verifyNote(parseNote(input), verifiers);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return { ok: false, code: err.code, detail: err.message };
  }
}
