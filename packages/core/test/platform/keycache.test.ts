import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { CoreError } from '../../src/errors.ts';
import { ecPublicKey, spkiBytes, spkiPublicKey } from '../../src/platform/node/keys.ts';

// The Node platform keeps built public keys (platform/node/keys.ts, KeyCache): the cache may
// change how fast an answer comes, never the answer.

function p256(): { x: Uint8Array; y: Uint8Array; spki: Uint8Array } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    x: new Uint8Array(Buffer.from(jwk.x!, 'base64url')),
    y: new Uint8Array(Buffer.from(jwk.y!, 'base64url')),
    spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  };
}

test('one EC point gives one built key; another point another key', () => {
  const a = p256();
  const b = p256();
  const k1 = ecPublicKey('P-256', a.x, a.y);
  assert.equal(ecPublicKey('P-256', a.x.slice(), a.y.slice()), k1, 'the same point: the kept key');
  assert.notEqual(ecPublicKey('P-256', b.x, b.y), k1);
  assert.deepEqual(spkiBytes(k1), a.spki, 'the kept key is that point');
  // The caller's arrays changing afterwards changes nothing kept.
  const x = a.x.slice();
  const k2 = ecPublicKey('P-256', x, a.y);
  x[0]! ^= 1;
  assert.deepEqual(spkiBytes(k2), a.spki);
});

test('an SPKI gives one built key per byte string', () => {
  const a = p256();
  const k = spkiPublicKey(a.spki);
  assert.equal(spkiPublicKey(a.spki.slice()), k);
  assert.deepEqual(spkiBytes(k), a.spki);
});

test('a point not on the curve throws every time (a failure is never kept)', () => {
  const a = p256();
  const y = a.y.slice();
  y[31]! ^= 1;
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => ecPublicKey('P-256', a.x, y),
      (e: unknown) => e instanceof CoreError && e.code === 'TPM_KEY_INVALID',
    );
  }
  assert.throws(() => spkiPublicKey(a.spki.subarray(0, 20)));
  assert.throws(() => spkiPublicKey(a.spki.subarray(0, 20)));
});

test('property: the key built for a point is that point, however (x, y) are split or repeated', () => {
  const pts = [p256(), p256(), p256()];
  fc.assert(
    fc.property(fc.array(fc.nat(2), { minLength: 1, maxLength: 12 }), (order) => {
      for (const i of order) {
        const p = pts[i]!;
        assert.deepEqual(spkiBytes(ecPublicKey('P-256', p.x, p.y)), p.spki);
      }
      // The same bytes split otherwise are not a valid point of the same key (never a hit).
      const p = pts[order[0]!]!;
      const joined = new Uint8Array([...p.x, ...p.y]);
      assert.throws(() => ecPublicKey('P-256', joined.subarray(0, 31), joined.subarray(31)));
    }),
    { numRuns: 50 },
  );
});
