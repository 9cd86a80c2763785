import { concat, fromBase64, toBase64, toHex, utf8 } from '../bytes/encoding.ts';
import { type Ed25519Key, ed25519PublicKey, ed25519Verify } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import { CoreError } from '../errors.ts';

// C2SP signed-note (https://c2sp.org/signed-note), section "Signatures" and "Ed25519 signatures".

/** Signature type identifier byte of Ed25519 notes (C2SP signed-note, "Signature types"). */
export const NOTE_SIG_ED25519 = 0x01;

/** Checks a signature of a note's text by one known key. */
export interface NoteVerifier {
  /** Key name, as on the signature line. */
  name: string;
  /** The uint32 key ID. */
  keyId: number;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * Signs a note's text. Core never holds private keys: the agent passes a callback (see
 * ed25519NoteSigner) and may back it by any key store.
 */
export interface NoteSigner {
  name: string;
  keyId: number;
  sign(text: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * Whether `name` may be a key name: non-empty, no Unicode spaces, no '+' (C2SP signed-note,
 * "Format"), and no control characters (no note may hold them).
 */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0000-\u001f]/u.test(name);
}

/**
 * Ed25519 key ID: the first four bytes, big-endian, of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
 * @throws CoreError NOTE_KEY_MALFORMED for an invalid name or a key that is not 32 bytes.
 */
export function noteKeyId(name: string, publicKey: Uint8Array): number {
  if (!isValidKeyName(name))
    throw new CoreError('NOTE_KEY_MALFORMED', `invalid key name ${JSON.stringify(name)}`);
  if (publicKey.length !== 32)
    throw new CoreError('NOTE_KEY_MALFORMED', `Ed25519 key must be 32 bytes, found ${publicKey.length}`);
  const h = sha256(utf8(name), new Uint8Array([0x0a, NOTE_SIG_ED25519]), publicKey);
  return new DataView(h.buffer, h.byteOffset).getUint32(0, false);
}

/** The verifier key text `<name>+<hex key ID>+<base64(0x01 ‖ public key)>` that operators configure. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  const id = keyIdHex(noteKeyId(name, publicKey));
  return `${name}+${id}+${toBase64(concat(new Uint8Array([NOTE_SIG_ED25519]), publicKey))}`;
}

/** A verifier for an Ed25519 key given as 32 raw bytes. @throws CoreError NOTE_KEY_MALFORMED */
export function ed25519NoteVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  const keyId = noteKeyId(name, publicKey);
  let key: Ed25519Key;
  try {
    key = ed25519PublicKey(publicKey);
  } catch (cause) {
    throw new CoreError('NOTE_KEY_MALFORMED', 'not a valid Ed25519 public key', { cause });
  }
  return {
    name,
    keyId,
    verify: (text, signature) => {
      return ed25519Verify(key, text, signature);
    },
  };
}

/**
 * Parses a verifier key `<name>+<8 lower-case hex>+<base64(0x01 ‖ 32-byte key)>` and checks
 * that the key ID is the one the name and key give. Only Ed25519 (type 0x01) is accepted.
 * @throws CoreError NOTE_KEY_MALFORMED
 */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const m = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey);
  if (m === null) throw new CoreError('NOTE_KEY_MALFORMED', 'expected <name>+<hex key ID>+<base64 key>');
  const [, name, idHex, b64] = m as unknown as [string, string, string, string];
  let key: Uint8Array;
  try {
    key = fromBase64(b64);
  } catch (cause) {
    throw new CoreError('NOTE_KEY_MALFORMED', 'key is not canonical base64', { cause });
  }
  if (key.length !== 33 || key[0] !== NOTE_SIG_ED25519)
    throw new CoreError('NOTE_KEY_MALFORMED', 'key is not 0x01 followed by a 32-byte Ed25519 key');
  const verifier = ed25519NoteVerifier(name, key.subarray(1));
  if (verifier.keyId !== Number.parseInt(idHex, 16))
    throw new CoreError('NOTE_KEY_MALFORMED', `key ID ${idHex} does not match the name and key`);
  return verifier;
}

/**
 * An Ed25519 signer from a public key and a signing callback (for instance
 * `(m) => crypto.sign(null, m, privateKey)`).
 * @throws CoreError NOTE_KEY_MALFORMED
 */
export function ed25519NoteSigner(
  name: string,
  publicKey: Uint8Array,
  sign: (text: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): NoteSigner {
  return { name, keyId: noteKeyId(name, publicKey), sign };
}

/** Hex of a key ID, as in verifier keys. */
export function keyIdHex(keyId: number): string {
  return toHex(new Uint8Array([keyId >>> 24, (keyId >>> 16) & 255, (keyId >>> 8) & 255, keyId & 255]));
}
