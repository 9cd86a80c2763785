import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { utf8 } from '../../src/bytes/encoding.ts';
import { sha256 } from '../../src/crypto/hash.ts';
import type { CoreError } from '../../src/errors.ts';
import {
  derEcdsaSignature,
  ecdsaNoteKeyId,
  ecdsaNoteSigner,
  ecdsaNoteVerifier,
} from '../../src/log/ecdsa.ts';
import { openNote, signNote } from '../../src/log/note.ts';

const spkiOf = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
  new Uint8Array(k.export({ type: 'spki', format: 'der' }));

test('ECDSA note key ID is SHA-256(SPKI DER)[:4] (C2SP signed-note type 0x02)', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = spkiOf(publicKey);
  const h = sha256(spki);
  assert.equal(ecdsaNoteKeyId(spki), ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0);
});

test('a note signed with a P-256 key in DER opens; a P1363 signature, another key or a P-384 key do not', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = spkiOf(publicKey);
  const signer = ecdsaNoteSigner('tmb/agent/a', spki, (t) => new Uint8Array(sign('sha256', t, privateKey)));
  const note = await signNote('tmb/agent/a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', [signer]);
  assert.equal(openNote(note, [ecdsaNoteVerifier('tmb/agent/a', spki)]).ok, true);
  const p1363 = ecdsaNoteSigner(
    'tmb/agent/a',
    spki,
    (t) => new Uint8Array(sign('sha256', t, { key: privateKey, dsaEncoding: 'ieee-p1363' })),
  );
  const bad = await signNote('x\n', [p1363]);
  assert.equal(openNote(bad, [ecdsaNoteVerifier('tmb/agent/a', spki)]).ok, false);
  const other = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  assert.equal(openNote(note, [ecdsaNoteVerifier('tmb/agent/a', other)]).ok, false);
  const p384 = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
  assert.throws(
    () => ecdsaNoteVerifier('tmb/agent/a', p384),
    (e: CoreError) => e.code === 'NOTE_KEY_MALFORMED',
  );
  assert.throws(
    () => ecdsaNoteVerifier('tmb/agent/a', utf8('not a key')),
    (e: CoreError) => e.code === 'NOTE_KEY_MALFORMED',
  );
});

test('property: derEcdsaSignature of any r, s verifies like the P1363 form', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const v = ecdsaNoteVerifier('k', spkiOf(publicKey));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (msg) => {
      const raw = new Uint8Array(sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
      const der = derEcdsaSignature(raw.subarray(0, 32), raw.subarray(32));
      assert.equal(der[0], 0x30);
      assert.equal(v.verify(msg, der), true);
      assert.equal(v.verify(msg, raw), false);
    }),
    { numRuns: 50 },
  );
});
