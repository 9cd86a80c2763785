import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, ed25519Raw, ed25519Verify, fromBase64, jcsBytes, sha256, toHex } from '@tmb/core';
import { profileSigningMessage } from '@tmb/core/profile';
import { type Profile, parseProfile } from '@tmb/stats';
import { VerifierError } from '../errors.ts';

/** A profile the verifier trusts: signed by the profile key, read from the profiles folder. */
export interface LoadedProfile {
  /** First 16 hex digits of SHA-256 of the profile's canonical bytes: names it in verdicts. */
  id: string;
  profile: Profile;
  file: string;
}

/** What a profile signature covers (docs/profile.md): core's, re-exported for the verifier's users. */
export { profileSigningMessage };

/**
 * The profile signer's public key from a key file's text: a PEM public key (SPKI), a PEM
 * private key (`tmb profile keygen` writes PKCS#8; its public half is used), or the base64 of
 * the raw 32-byte key.
 * @throws VerifierError VERIFIER_CONFIG_INVALID
 */
export function profileKeyFromText(text: string): Uint8Array {
  const t = text.trim();
  try {
    if (t.startsWith('-----BEGIN')) {
      const k = createPublicKey(t);
      if (k.asymmetricKeyType === 'ed25519') return ed25519Raw(k);
    } else {
      const raw = fromBase64(t);
      if (raw.length === 32) return raw;
    }
  } catch {
    // fall through
  }
  throw new VerifierError(
    'VERIFIER_CONFIG_INVALID',
    'the profile key must be an Ed25519 key: PEM, or base64 of the raw 32 bytes',
  );
}

/**
 * Checks a signed profile file (docs/profile.md): its shape, and an Ed25519 signature by
 * `trusted` over "tmb-profile-v1" || 0x00 || JCS(parsed profile). Returns why not, or the profile.
 */
export function verifyProfileText(text: string, trusted: Uint8Array): Profile | string {
  let o: Record<string, unknown>;
  let profile: Profile;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
    profile = parseProfile(o.profile);
  } catch (err) {
    return `not a signed profile: ${(err as Error).message}`;
  }
  if (typeof o.publicKey !== 'string' || typeof o.signature !== 'string') return 'no publicKey or signature';
  let pub: Uint8Array;
  let sig: Uint8Array;
  try {
    pub = fromBase64(o.publicKey);
    sig = fromBase64(o.signature);
  } catch {
    return 'publicKey or signature is not base64';
  }
  if (!bytesEqual(pub, trusted)) return 'signed by a key other than the trusted profile key';
  return ed25519Verify(trusted, profileSigningMessage(profile), sig) ? profile : 'signature does not verify';
}

/**
 * The signed profiles in a folder (`tmb verifier --profiles DIR`), each `*.json` checked against
 * the trusted profile key (`--profile-key FILE`). The folder is read again when its mtime
 * changes (checked at most every 200 ms), so a profile dropped in is used without a restart.
 * Files that do not verify are left out and listed in `refused`.
 */
export class ProfileRegistry {
  readonly #dir: string | undefined;
  readonly #key: Uint8Array | undefined;
  #mtime = -1;
  #checked = 0;
  #profiles: LoadedProfile[] = [];
  refused: { file: string; why: string }[] = [];

  constructor(dir: string | undefined, key: Uint8Array | undefined) {
    if (dir !== undefined && key === undefined)
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'a profiles folder needs the profile signer key');
    this.#dir = dir;
    this.#key = key;
  }

  /** Whether a profiles folder was given (else verdicts carry no telemetry check). */
  get configured(): boolean {
    return this.#dir !== undefined;
  }

  /** The trusted profiles now. */
  list(): readonly LoadedProfile[] {
    if (this.#dir === undefined || this.#key === undefined) return [];
    const now = performance.now();
    if (now - this.#checked < 200) return this.#profiles;
    this.#checked = now;
    let mtime: number;
    try {
      mtime = statSync(this.#dir).mtimeMs;
    } catch {
      return this.#profiles;
    }
    if (mtime === this.#mtime) return this.#profiles;
    this.#mtime = mtime;
    const loaded: LoadedProfile[] = [];
    const refused: { file: string; why: string }[] = [];
    for (const name of readdirSync(this.#dir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      const file = join(this.#dir, name);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        refused.push({ file, why: (err as Error).message });
        continue;
      }
      const p = verifyProfileText(text, this.#key);
      if (typeof p === 'string') refused.push({ file, why: p });
      else loaded.push({ id: toHex(sha256(jcsBytes(p))).slice(0, 16), profile: p, file });
    }
    this.#profiles = loaded;
    this.refused = refused;
    return loaded;
  }

  /** Forces a re-read on the next list() (tests write files faster than mtime resolution). */
  invalidate(): void {
    this.#mtime = -1;
    this.#checked = 0;
  }
}
