import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import * as nodeDsse from '../../src/platform/node/dsse.ts';
import * as nodeEd from '../../src/platform/node/ed25519.ts';
import * as nodeHash from '../../src/platform/node/hash.ts';
import * as nodeKeys from '../../src/platform/node/keys.ts';
import * as nodeSeal from '../../src/platform/node/seal.ts';
import * as nodeText from '../../src/platform/node/text.ts';
import * as nodeX509 from '../../src/platform/node/x509.ts';
import type { EcCurve, HashName } from '../../src/platform/types.ts';
import * as webDsse from '../../src/platform/web/dsse.ts';
import * as webEd from '../../src/platform/web/ed25519.ts';
import * as webHash from '../../src/platform/web/hash.ts';
import * as webKeys from '../../src/platform/web/keys.ts';
import * as webSeal from '../../src/platform/web/seal.ts';
import * as webText from '../../src/platform/web/text.ts';
import * as webX509 from '../../src/platform/web/x509.ts';

// The two platform implementations (Node: node:crypto and Buffer; browser: @noble/hashes and
// @noble/curves) run here side by side on the same inputs: same answers, same rejections.

const HASHES: HashName[] = ['sha1', 'sha256', 'sha384', 'sha512'];
const plain = (b: Uint8Array) => new Uint8Array(b);

test('each platform module exports the same names in Node and in a browser', () => {
  const pairs = [
    [nodeHash, webHash],
    [nodeText, webText],
    [nodeEd, webEd],
    [nodeKeys, webKeys],
    [nodeSeal, webSeal],
    [nodeX509, webX509],
    [nodeDsse, webDsse],
  ] as const;
  for (const [n, w] of pairs) {
    const extra = Object.keys(w).filter((k) => !(k in n));
    assert.deepEqual(
      Object.keys(n).filter((k) => !(k in w)),
      [],
      'missing in the web module',
    );
    assert.deepEqual(extra, [], 'only in the web module');
  }
});

test('digests: one-shot, incremental and latin1 agree for every algorithm', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...HASHES),
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }),
      (h, parts) => {
        const expected = plain(nodeHash.digest(h, ...parts));
        assert.deepEqual(plain(webHash.digest(h, ...parts)), expected);
        const [a, b] = [nodeHash.hasher(h), webHash.hasher(h)];
        for (const p of parts) {
          a.update(p);
          b.update(p);
        }
        assert.deepEqual(plain(b.digest()), plain(a.digest()));
        const one = parts[0] ?? new Uint8Array(0);
        assert.deepEqual(plain(webHash.hashOnce(h, one)), plain(nodeHash.hashOnce(h, one)));
        assert.equal(webHash.hashLatin1(h, one), nodeHash.hashLatin1(h, one));
        assert.deepEqual(plain(webHash.sha256Once(one)), plain(nodeHash.sha256Once(one)));
        assert.equal(webHash.sha256Latin1(one), nodeHash.sha256Latin1(one));
        assert.equal(webHash.latin1Of(one), nodeHash.latin1Of(one));
        const [sn, sw] = [nodeHash.scratch(8 + one.length), webHash.scratch(8 + one.length)];
        nodeHash.putLatin1(sn, nodeHash.latin1Of(one), 3);
        webHash.putLatin1(sw, webHash.latin1Of(one), 3);
        assert.deepEqual(plain(sw), plain(sn));
      },
    ),
    { numRuns: 300 },
  );
});

test('text spans: hex, latin1, UTF-8 checks and encodings agree on any bytes and strings', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (bytes, i, j) => {
      const [s, e] = [i % (bytes.length + 1), j % (bytes.length + 1)].sort((x, y) => x - y) as [
        number,
        number,
      ];
      assert.equal(webText.hexSpan(bytes, s, e), nodeText.hexSpan(bytes, s, e));
      assert.equal(webText.latin1Span(bytes, s, e), nodeText.latin1Span(bytes, s, e));
      const ok = nodeText.isUtf8Span(bytes, s, e);
      assert.equal(webText.isUtf8Span(bytes, s, e), ok);
      if (ok) assert.equal(webText.utf8Text(bytes, s, e), nodeText.utf8Text(bytes, s, e));
    }),
    { numRuns: 500 },
  );
  // Valid UTF-8 with multi-byte characters, as well as random bytes.
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const bytes = plain(nodeText.utf8Bytes(text));
      assert.deepEqual(plain(webText.utf8Bytes(text)), bytes);
      assert.equal(webText.isUtf8Span(bytes, 0, bytes.length), nodeText.isUtf8Span(bytes, 0, bytes.length));
      assert.equal(webText.utf8Text(bytes, 0, bytes.length), nodeText.utf8Text(bytes, 0, bytes.length));
    }),
    { numRuns: 100 },
  );
  for (const lone of ['\ud800', 'a\udfffb', '\udc80'])
    assert.deepEqual(plain(webText.utf8Bytes(lone)), plain(nodeText.utf8Bytes(lone)));
});

function edPair(): { raw: Uint8Array; sig: (m: Uint8Array) => Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { raw: nodeEd.ed25519Raw(publicKey), sig: (m) => new Uint8Array(sign(null, m, privateKey)) };
}

test('Ed25519: real signatures verify in both, and every change is rejected by both', () => {
  const keys = [edPair(), edPair()];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(255), (msg, at, flip) => {
      const [a, b] = keys as [ReturnType<typeof edPair>, ReturnType<typeof edPair>];
      const sig = a.sig(msg);
      assert.equal(nodeEd.ed25519Verify(a.raw, msg, sig), true);
      assert.equal(webEd.ed25519Verify(a.raw, msg, sig), true);
      assert.equal(webEd.ed25519Verify(webEd.ed25519PublicKey(a.raw), msg, sig), true);
      assert.equal(webEd.ed25519Verify(b.raw, msg, sig), false);
      assert.equal(nodeEd.ed25519Verify(b.raw, msg, sig), false);
      const bad = sig.slice();
      bad[at % 64] = bad[at % 64]! ^ (flip + 1 > 255 ? 1 : flip + 1);
      assert.equal(webEd.ed25519Verify(a.raw, msg, bad), nodeEd.ed25519Verify(a.raw, msg, bad));
      assert.equal(webEd.ed25519Verify(a.raw, msg, bad), false);
      assert.equal(webEd.ed25519Verify(a.raw, msg, sig.subarray(1)), false);
      assert.deepEqual(webEd.ed25519Raw(webEd.ed25519PublicKey(a.raw)), plain(a.raw));
    }),
    { numRuns: 100 },
  );
  // Random keys and signatures: never valid in either; any 32 bytes import in both.
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
      (k, s) => {
        const m = new Uint8Array([1, 2, 3]);
        assert.equal(webEd.ed25519Verify(k, m, s), nodeEd.ed25519Verify(k, m, s));
      },
    ),
    { numRuns: 200 },
  );
  for (const len of [0, 31, 33])
    for (const impl of [nodeEd, webEd])
      assert.throws(() => impl.ed25519PublicKey(new Uint8Array(len)), { code: 'BAD_ENCODING' });
});

interface EcPair {
  crv: EcCurve;
  spki: Uint8Array;
  jwk: { x: string; y: string };
  privateKey: KeyObject;
}

function ecPair(crv: EcCurve): EcPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: crv });
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  return { crv, spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })), jwk, privateKey };
}

const b64u = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

test('ECDSA P-256 and P-384: DER and P1363 signatures, from SPKI or a point, same answers', () => {
  const pairs = [ecPair('P-256'), ecPair('P-384')];
  fc.assert(
    fc.property(
      fc.constantFrom(...pairs),
      fc.constantFrom<HashName>('sha256', 'sha384', 'sha1'),
      fc.constantFrom<'der' | 'ieee-p1363'>('der', 'ieee-p1363'),
      fc.uint8Array({ maxLength: 100 }),
      fc.nat(),
      (p, h, enc, msg, at) => {
        const sig = new Uint8Array(sign(h, msg, { key: p.privateKey, dsaEncoding: enc }));
        const keys = [
          [nodeKeys.spkiPublicKey(p.spki), webKeys.spkiPublicKey(p.spki)],
          [
            nodeKeys.ecPublicKey(p.crv, b64u(p.jwk.x), b64u(p.jwk.y)),
            webKeys.ecPublicKey(p.crv, b64u(p.jwk.x), b64u(p.jwk.y)),
          ],
        ] as const;
        for (const [n, w] of keys) {
          assert.equal(nodeKeys.ecCurve(n), p.crv);
          assert.equal(webKeys.ecCurve(w), p.crv);
          assert.deepEqual(webKeys.publicJwk(w), { kty: 'EC', crv: p.crv, x: p.jwk.x, y: p.jwk.y });
          assert.equal(nodeKeys.ecdsaVerify(n, h, msg, sig, enc), true);
          assert.equal(webKeys.ecdsaVerify(w, h, msg, sig, enc), true);
          const bad = sig.slice();
          bad[at % bad.length] = bad[at % bad.length]! ^ 1;
          assert.equal(webKeys.ecdsaVerify(w, h, msg, bad, enc), nodeKeys.ecdsaVerify(n, h, msg, bad, enc));
          const other = enc === 'der' ? 'ieee-p1363' : 'der';
          assert.equal(
            webKeys.ecdsaVerify(w, h, msg, sig, other),
            nodeKeys.ecdsaVerify(n, h, msg, sig, other),
          );
          if (enc === 'ieee-p1363') {
            assert.equal(webKeys.verifySignature('ecdsa', w, h, msg, sig), true);
            assert.equal(nodeKeys.verifySignature('ecdsa', n, h, msg, sig), true);
            assert.equal(
              webKeys.verifySignature('rsassa', w, h, msg, sig),
              nodeKeys.verifySignature('rsassa', n, h, msg, sig),
            );
          }
        }
      },
    ),
    { numRuns: 80 },
  );
});

test('ECDSA: a high-S signature (s -> n - s) verifies in both, as OpenSSL allows', () => {
  const N = {
    'P-256': 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    'P-384':
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  } as const;
  for (const crv of ['P-256', 'P-384'] as const) {
    const p = ecPair(crv);
    const size = crv === 'P-256' ? 32 : 48;
    const msg = new Uint8Array([7, 7, 7]);
    const sig = new Uint8Array(sign('sha256', msg, { key: p.privateKey, dsaEncoding: 'ieee-p1363' }));
    const s = BigInt(`0x${Buffer.from(sig.subarray(size)).toString('hex')}`);
    const high = sig.slice();
    high.set(Buffer.from((N[crv] - s).toString(16).padStart(2 * size, '0'), 'hex'), size);
    const [n, w] = [nodeKeys.spkiPublicKey(p.spki), webKeys.spkiPublicKey(p.spki)];
    assert.equal(nodeKeys.ecdsaVerify(n, 'sha256', msg, high, 'ieee-p1363'), true);
    assert.equal(webKeys.ecdsaVerify(w, 'sha256', msg, high, 'ieee-p1363'), true);
  }
});

test('EC keys off the curve, and random signatures, are rejected by both', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (x, y) => {
        let nodeOk = true;
        let webOk = true;
        try {
          nodeKeys.ecPublicKey('P-256', x, y);
        } catch (e) {
          nodeOk = false;
          assert.equal((e as { code?: string }).code, 'TPM_KEY_INVALID');
        }
        try {
          webKeys.ecPublicKey('P-256', x, y);
        } catch (e) {
          webOk = false;
          assert.equal((e as { code?: string }).code, 'TPM_KEY_INVALID');
        }
        assert.equal(webOk, nodeOk);
      },
    ),
    { numRuns: 200 },
  );
  const p = ecPair('P-256');
  const [n, w] = [nodeKeys.spkiPublicKey(p.spki), webKeys.spkiPublicKey(p.spki)];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (sig) => {
      for (const enc of ['der', 'ieee-p1363'] as const)
        assert.equal(
          webKeys.ecdsaVerify(w, 'sha256', sig, sig, enc),
          nodeKeys.ecdsaVerify(n, 'sha256', sig, sig, enc),
        );
    }),
    { numRuns: 300 },
  );
});

test('signed runtime policies: the same keyid and the same verdict from a PEM EC key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const msg = new Uint8Array([1, 2, 3, 4]);
  const { sig, keyid } = nodeDsse.policySign(msg, privateKey);
  const w = webDsse.policyKey(pem);
  assert.equal(webDsse.keylimeKeyId(w), keyid);
  assert.equal(nodeDsse.keylimeKeyId(nodeDsse.policyKey(pem)), keyid);
  assert.equal(webDsse.policyVerify(w, msg, sig), true);
  assert.equal(webDsse.policyVerify(w, new Uint8Array([9]), sig), false);
  for (const bad of ['-----BEGIN PRIVATE KEY-----', 'not a key'])
    for (const impl of [nodeDsse, webDsse])
      assert.throws(() => impl.policyKey(bad), { code: 'IMA_POLICY_KEY_INVALID' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
    format: 'pem',
    type: 'spki',
  });
  for (const impl of [nodeDsse, webDsse])
    assert.throws(() => impl.policyKey(rsa as string), { code: 'IMA_POLICY_KEY_INVALID' });
  for (const [text, enc] of [
    ['00ff', 'hex'],
    ['AAEC/w==', 'base64'],
    ['AAEC_w==', 'base64url'],
  ] as const)
    assert.deepEqual(webDsse.decodeText(text, enc), nodeDsse.decodeText(text, enc));
  assert.equal(webDsse.base64Of(msg), nodeDsse.base64Of(msg));
});

test('HMAC and the CSPRNG agree in shape; a browser refuses X.509 with EK_CERT_INVALID', () => {
  for (const h of HASHES)
    assert.deepEqual(
      plain(webSeal.hmac(h, new Uint8Array([1, 2]), new Uint8Array([3]))),
      plain(nodeSeal.hmac(h, new Uint8Array([1, 2]), new Uint8Array([3]))),
    );
  assert.equal(webSeal.random(70000).length, 70000);
  assert.throws(() => webX509.parseCertificate('-----BEGIN CERTIFICATE-----'), { code: 'EK_CERT_INVALID' });
  assert.deepEqual(webX509.parsePemBundle(''), []);
});
