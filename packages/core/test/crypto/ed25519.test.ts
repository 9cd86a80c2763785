import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { test } from 'node:test';
import { CoreError, ed25519PublicKey, ed25519Raw, ed25519Verify, utf8 } from '@tmb/core';
import fc from 'fast-check';
import { ED25519_KEY_CACHE_MAX, ed25519KeyCacheSize } from '../../src/crypto/ed25519.ts';

function keyPair(): { raw: Uint8Array; sig: (m: Uint8Array) => Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { raw: ed25519Raw(publicKey), sig: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

test('a key asked for again is the same built key, and still verifies its signatures', () => {
  const a = keyPair();
  const first = ed25519PublicKey(a.raw);
  assert.equal(ed25519PublicKey(new Uint8Array(a.raw)), first, 'a copy of the bytes hits the entry');
  const msg = utf8('tmb.receipt.v1\nhello');
  assert.equal(ed25519Verify(a.raw, msg, a.sig(msg)), true);
  assert.equal(ed25519Verify(a.raw, msg, a.sig(utf8('other'))), false);
});

test('a different key never gets another key entry: signatures by A fail under B after A is cached', () => {
  const a = keyPair();
  const b = keyPair();
  const msg = utf8('message');
  const sigA = a.sig(msg);
  assert.equal(ed25519Verify(a.raw, msg, sigA), true);
  assert.equal(ed25519Verify(b.raw, msg, sigA), false);
  assert.deepEqual(ed25519Raw(ed25519PublicKey(b.raw)), b.raw);
  // A key one bit away from A (same prefix, same length) is its own entry.
  const near = new Uint8Array(a.raw);
  near[31] = near[31]! ^ 1;
  assert.notEqual(ed25519PublicKey(near), ed25519PublicKey(a.raw));
  assert.equal(ed25519Verify(near, msg, sigA), false);
});

test('changing the caller buffer after a call does not change what was cached for it', () => {
  const a = keyPair();
  const b = keyPair();
  const buf = new Uint8Array(a.raw);
  const ka = ed25519PublicKey(buf);
  buf.set(b.raw);
  assert.deepEqual(ed25519Raw(ed25519PublicKey(buf)), b.raw);
  assert.deepEqual(ed25519Raw(ed25519PublicKey(a.raw)), a.raw);
  assert.equal(ed25519PublicKey(a.raw), ka);
});

test('property: the key built for any 32 bytes is exactly those bytes, cached or not', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(31), (raw, at) => {
      const other = new Uint8Array(raw);
      other[at] = other[at]! ^ 0x80;
      for (const k of [raw, other, raw, other]) assert.deepEqual(ed25519Raw(ed25519PublicKey(k)), k);
    }),
    { numRuns: 300 },
  );
});

test('the cache is bounded: past its size the oldest key is dropped and rebuilt when asked again', () => {
  const oldest = new Uint8Array(randomBytes(32));
  const built = ed25519PublicKey(oldest);
  for (let i = 0; i < ED25519_KEY_CACHE_MAX + 50; i++) ed25519PublicKey(new Uint8Array(randomBytes(32)));
  assert.equal(ed25519KeyCacheSize(), ED25519_KEY_CACHE_MAX);
  const again = ed25519PublicKey(oldest);
  assert.notEqual(again, built, 'evicted, so built afresh');
  assert.deepEqual(ed25519Raw(again), oldest);
  assert.equal(ed25519KeyCacheSize(), ED25519_KEY_CACHE_MAX);
});

test('a key of the wrong length is BAD_ENCODING and is not cached', () => {
  const before = ed25519KeyCacheSize();
  for (const n of [0, 31, 33, 64]) {
    assert.throws(
      () => ed25519PublicKey(new Uint8Array(n)),
      (e: unknown) => e instanceof CoreError && e.code === 'BAD_ENCODING',
    );
    assert.equal(ed25519Verify(new Uint8Array(n), utf8('m'), new Uint8Array(64)), false);
  }
  assert.equal(ed25519KeyCacheSize(), before);
});
