import assert from 'node:assert/strict';
import {
  constants,
  createDecipheriv,
  createECDH,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
} from 'node:crypto';
import { test } from 'node:test';
import { Cursor } from '../../src/bytes/cursor.ts';
import { fromBase64Url, utf8 } from '../../src/bytes/encoding.ts';
import { makeCredential } from '../../src/tpm/credential.ts';
import { kdfa, kdfe } from '../../src/tpm/kdf.ts';
import { parseTpm2bPublic, parseTpmtPublic, type TpmPublic, tpmName } from '../../src/tpm/public.ts';
import { eccStoragePublic, rsaStoragePublic } from './encode.ts';
import { vector } from './vectors.ts';

/** The TPM's side of ActivateCredential (Part 1, 24), in software, for an EK whose private key we hold. */
function activate(
  file: Uint8Array,
  ek: TpmPublic,
  ekPrivate: KeyObject | ReturnType<typeof createECDH>,
  akName: Uint8Array,
) {
  const c = new Cursor(file, 'credential file');
  assert.equal(c.u32be('magic'), 0xbadcc0de);
  assert.equal(c.u32be('version'), 1);
  const blob = new Cursor(c.take(c.u16be('idSize'), 'id'), 'TPM2B_ID_OBJECT');
  const secret = c.take(c.u16be('secretSize'), 'secret');
  c.end();
  let seed: Uint8Array;
  if (ek.type === 'rsa') {
    seed = new Uint8Array(
      privateDecrypt(
        {
          key: ekPrivate as KeyObject,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: 'sha256',
          oaepLabel: utf8('IDENTITY\0'),
        },
        secret,
      ),
    );
  } else {
    const p = new Cursor(secret, 'TPMS_ECC_POINT');
    const x = p.take(p.u16be('x'), 'x');
    const y = p.take(p.u16be('y'), 'y');
    const z = (ekPrivate as ReturnType<typeof createECDH>).computeSecret(
      Buffer.concat([Buffer.from([4]), x, y]),
    );
    seed = kdfe('sha256', new Uint8Array(z), 'IDENTITY', x, ek.x, 256);
  }
  const integrity = blob.take(blob.u16be('integritySize'), 'integrity');
  const encIdentity = blob.take(blob.remaining, 'encIdentity');
  const hmacKey = kdfa('sha256', seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 256);
  const mac = createHmac('sha256', hmacKey).update(encIdentity).update(akName).digest();
  assert.deepEqual(new Uint8Array(mac), integrity, 'integrity HMAC');
  const symKey = kdfa('sha256', seed, 'STORAGE', akName, new Uint8Array(0), 128);
  const d = createDecipheriv('aes-128-cfb', symKey, new Uint8Array(16));
  const plain = new Cursor(new Uint8Array(Buffer.concat([d.update(encIdentity), d.final()])), 'TPM2B_DIGEST');
  const out = plain.take(plain.u16be('size'), 'buffer');
  plain.end();
  return out;
}

const akName = tpmName(parseTpm2bPublic(vector('ecc256/ak.pub')));
const secret = utf8('a 32-byte credential for the ak!');

test('makeCredential for an RSA-2048 EK: the EK private key recovers the secret, bound to the AK name', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const n = fromBase64Url(publicKey.export({ format: 'jwk' }).n!);
  const ek = parseTpmtPublic(rsaStoragePublic(n));
  const cred = makeCredential(ek, akName, secret);
  assert.deepEqual(activate(cred.file, ek, privateKey, akName), secret);
  const otherName = akName.slice();
  otherName[5]! ^= 1;
  assert.throws(() => activate(cred.file, ek, privateKey, otherName), /integrity HMAC/);
});

test('makeCredential for an ECC P-256 EK (ECDH + KDFe) round-trips', () => {
  const ecdh = createECDH('prime256v1');
  const pub = ecdh.generateKeys();
  const ek = parseTpmtPublic(eccStoragePublic(pub.subarray(1, 33), pub.subarray(33)));
  const cred = makeCredential(ek, akName, secret);
  assert.deepEqual(activate(cred.file, ek, ecdh, akName), secret);
});

test('makeCredential refuses an empty or over-long secret and a key with no symmetric algorithm', () => {
  const ecdh = createECDH('prime256v1');
  const pub = ecdh.generateKeys();
  const ek = parseTpmtPublic(eccStoragePublic(pub.subarray(1, 33), pub.subarray(33)));
  assert.throws(() => makeCredential(ek, akName, new Uint8Array(0)), { code: 'TPM_KEY_INVALID' });
  assert.throws(() => makeCredential(ek, akName, new Uint8Array(33)), { code: 'TPM_KEY_INVALID' });
  assert.throws(() => makeCredential(parseTpmtPublic(vector('ecc256/ak.pub').subarray(2)), akName, secret), {
    code: 'TPM_KEY_INVALID',
  });
});

test('KDFa known answer: counter 1 || label\\0 || contexts || bits under HMAC-SHA256', () => {
  const key = new Uint8Array(32).fill(7);
  const want = createHmac('sha256', key)
    .update(Buffer.from([0, 0, 0, 1]))
    .update('STORAGE\0')
    .update(Buffer.from('abc'))
    .update(Buffer.from([0, 0, 0, 128]))
    .digest()
    .subarray(0, 16);
  assert.deepEqual(kdfa('sha256', key, 'STORAGE', utf8('abc'), new Uint8Array(0), 128), new Uint8Array(want));
  assert.equal(kdfa('sha256', key, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), 512).length, 64);
});
