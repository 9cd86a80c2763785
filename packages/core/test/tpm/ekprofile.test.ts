import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { concat } from '../../src/bytes/encoding.ts';
import { ParseError } from '../../src/errors.ts';
import { oidText, readTlv } from '../../src/tpm/der.ts';
import { ekProfileNotes, ekProfileProblems, readEkProfile } from '../../src/tpm/ekprofile.ts';
import { manufacturerName } from '../../src/tpm/vendors.ts';
import { vector } from './vectors.ts';

// readEkProfile walks attacker-supplied DER: known answers from swtpm, real STMicro EK
// certificates and openssl-made cases; malformed inputs with their exact code; properties.

const raw = (name: string) => new Uint8Array(new X509Certificate(vector(name)).raw);

test("swtpm's EK certificate: EKU, SAN with IBM's id, model swtpm, keyEncipherment", () => {
  const p = readEkProfile(raw('ek-rsa.crt'));
  assert.deepEqual(p, {
    eku: ['2.23.133.8.1'],
    san: { manufacturer: 'id:00001014', model: 'swtpm', version: 'id:20191023' },
    keyUsage: { keyEncipherment: true, keyAgreement: false },
    ca: false,
  });
  assert.deepEqual(ekProfileProblems(p, 'rsa'), []);
  assert.deepEqual(ekProfileNotes(p), []);
});

test('real STMicroelectronics EK certificates (RSA padded from NV, ECC) meet the profile', () => {
  const rsa = readEkProfile(raw('vendor/ek-stm-rsa.der'));
  assert.deepEqual(rsa.san, { manufacturer: 'id:53544D20', model: 'ST33HTPHAHB4', version: 'id:00490004' });
  assert.deepEqual(ekProfileProblems(rsa, 'rsa'), []);
  const ecc = readEkProfile(raw('vendor/ek-stm-ecc.der'));
  assert.deepEqual(ecc.keyUsage, { keyEncipherment: false, keyAgreement: true });
  assert.deepEqual(ekProfileProblems(ecc, 'ec'), []);
  // An ECC EK's key usage is not an RSA EK's.
  assert.deepEqual(ekProfileProblems(ecc, 'rsa'), ['key usage of an RSA EK lacks keyEncipherment']);
  assert.equal(manufacturerName(rsa.san!.manufacturer!), 'STMicroelectronics');
});

test('each way of breaking the EK profile is named; absent EKU and key usage are notes', () => {
  const problems = (name: string) => ekProfileProblems(readEkProfile(raw(`profile/${name}.der`)), 'rsa');
  assert.deepEqual(problems('good'), []);
  assert.deepEqual(problems('no-eku-ku'), []);
  assert.deepEqual(ekProfileNotes(readEkProfile(raw('profile/no-eku-ku.der'))), [
    'no extended key usage extension',
    'no key usage extension',
  ]);
  assert.deepEqual(problems('eku-wrong'), [
    'extended key usage [1.3.6.1.5.5.7.3.1] lacks tcg-kp-EKCertificate 2.23.133.8.1',
  ]);
  assert.deepEqual(problems('no-san'), [
    'no subjectAltName: the TPM manufacturer, model and version are missing',
  ]);
  assert.deepEqual(problems('san-partial'), ['subjectAltName directoryName lacks the TPM model, version']);
  assert.deepEqual(problems('ku-wrong'), ['key usage of an RSA EK lacks keyEncipherment']);
  assert.deepEqual(problems('is-ca'), ['the EK certificate is a CA (basicConstraints cA)']);
});

test('manufacturer ids name their vendor; others are null', () => {
  assert.equal(manufacturerName('id:49465800'), 'Infineon');
  assert.equal(manufacturerName('id:4E544300'), 'Nuvoton Technology');
  assert.equal(manufacturerName('id:53544d20'), 'STMicroelectronics');
  assert.equal(manufacturerName('id:494E5443'), 'Intel');
  assert.equal(manufacturerName('id:00001014'), 'IBM (swtpm)');
  assert.equal(manufacturerName('id:58595A00'), null);
  assert.equal(manufacturerName('Infineon'), null);
  assert.equal(manufacturerName('id:4946580'), null);
});

// --- malformed DER, built by hand -------------------------------------------------------------

const tlv = (tag: number, ...content: Uint8Array[]) => {
  const body = concat(...content);
  const n = body.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return concat(new Uint8Array([tag, ...len]), body);
};
const b = (...x: number[]) => new Uint8Array(x);
const oid = (...bytes: number[]) => tlv(0x06, b(...bytes));
const SAN_OID = oid(0x55, 0x1d, 0x11);
const EKU_OID = oid(0x55, 0x1d, 0x25);
const KU_OID = oid(0x55, 0x1d, 0x0f);
const ext = (id: Uint8Array, value: Uint8Array, critical = false) =>
  tlv(0x30, id, ...(critical ? [tlv(0x01, b(0xff))] : []), tlv(0x04, value));
/** A Certificate shell: SEQUENCE { SEQUENCE { INTEGER 1, [3] { SEQUENCE { exts } } } }. */
const cert = (...exts: Uint8Array[]) =>
  tlv(0x30, tlv(0x30, tlv(0x02, b(1)), tlv(0xa3, tlv(0x30, ...exts))), tlv(0x30), tlv(0x03, b(0)));
const attr = (last: number, tag: number, value: string) =>
  tlv(0x31, tlv(0x30, oid(0x67, 0x81, 0x05, 0x02, last), tlv(tag, new TextEncoder().encode(value))));
const san = (...attrs: Uint8Array[]) => tlv(0x30, tlv(0xa4, tlv(0x30, ...attrs)));

const code = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ParseError, String(err));
    return err.code;
  }
  return 'no error';
};

test('hand-built shells read as the profile says', () => {
  const p = readEkProfile(
    cert(ext(SAN_OID, san(attr(1, 0x0c, 'id:49465800'), attr(2, 0x13, 'M'), attr(3, 0x16, 'v')))),
  );
  assert.deepEqual(p.san, { manufacturer: 'id:49465800', model: 'M', version: 'v' });
  // The three attributes in one multi-valued RDN read the same.
  const one = tlv(
    0x31,
    ...[1, 2, 3].map((i) => tlv(0x30, oid(0x67, 0x81, 0x05, 0x02, i), tlv(0x0c, b(0x41)))),
  );
  assert.deepEqual(readEkProfile(cert(ext(SAN_OID, san(one)))).san, {
    manufacturer: 'A',
    model: 'A',
    version: 'A',
  });
  assert.deepEqual(readEkProfile(tlv(0x30, tlv(0x30, tlv(0x02, b(1))))), {
    eku: null,
    san: null,
    keyUsage: null,
    ca: false,
  });
});

test('malformed DER fails with EK_CERT_DER_INVALID, each at its rule', () => {
  const good = raw('ek-rsa.crt');
  const cases: [string, Uint8Array][] = [
    ['empty', b()],
    ['truncated', good.subarray(0, good.length - 1)],
    ['trailing byte', concat(good, b(0))],
    ['indefinite length', b(0x30, 0x80, 0x00, 0x00)],
    ['non-minimal length', b(0x30, 0x81, 0x03, 0x02, 0x01, 0x01)],
    ['leading zero length byte', b(0x30, 0x82, 0x00, 0x83, ...new Array(0x83).fill(0))],
    ['5-byte length', b(0x30, 0x85, 1, 0, 0, 0, 0)],
    ['high tag number', b(0x1f, 0x01, 0x00)],
    ['length past the end', b(0x30, 0x05, 0x02, 0x01)],
    ['tbs not a SEQUENCE', tlv(0x30, tlv(0x02, b(1)))],
    ['extension twice', cert(ext(KU_OID, tlv(0x03, b(5, 0x20))), ext(KU_OID, tlv(0x03, b(5, 0x20))))],
    ['extension without value', cert(tlv(0x30, KU_OID))],
    ['EKU member not an OID', cert(ext(EKU_OID, tlv(0x30, tlv(0x02, b(1)))))],
    ['OID arc not minimal', cert(ext(tlv(0x06, b(0x55, 0x80, 0x1d)), tlv(0x30)))],
    ['OID ends inside an arc', cert(ext(tlv(0x06, b(0x55, 0x9d)), tlv(0x30)))],
    ['key usage unused bits 9', cert(ext(KU_OID, tlv(0x03, b(9, 0x20))))],
    ['key usage not a BIT STRING', cert(ext(KU_OID, tlv(0x04, b(5, 0x20))))],
    ['SAN attribute twice', cert(ext(SAN_OID, san(attr(1, 0x0c, 'a'), attr(1, 0x0c, 'b'))))],
    ['SAN attribute an INTEGER', cert(ext(SAN_OID, san(attr(2, 0x02, 'a'))))],
    [
      'SAN attribute not UTF-8',
      cert(ext(SAN_OID, san(tlv(0x31, tlv(0x30, oid(0x67, 0x81, 0x05, 0x02, 2), tlv(0x0c, b(0xff))))))),
    ],
    ['SAN attribute over 128 bytes', cert(ext(SAN_OID, san(attr(2, 0x0c, 'x'.repeat(129)))))],
    ['SAN RDN not a SET', cert(ext(SAN_OID, tlv(0x30, tlv(0xa4, tlv(0x30, tlv(0x30))))))],
    ['over 16 KiB', new Uint8Array(16 * 1024 + 1)],
    ['over 64 elements', cert(...new Array(65).fill(ext(oid(0x2a, 1), tlv(0x30))))],
  ];
  for (const [what, bytes] of cases)
    assert.equal(
      code(() => readEkProfile(bytes)),
      'EK_CERT_DER_INVALID',
      what,
    );
});

test('OIDs decode per X.690 8.19, first two arcs packed', () => {
  assert.equal(oidText(b(0x67, 0x81, 0x05, 0x08, 0x01), 'x'), '2.23.133.8.1');
  assert.equal(oidText(b(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d), 'x'), '1.2.840.113549');
  assert.equal(oidText(b(0x27), 'x'), '0.39');
  assert.equal(
    code(() => oidText(b(), 'x')),
    'EK_CERT_DER_INVALID',
  );
  assert.equal(
    code(() => readTlv(b(0x30), 0, 'x')),
    'EK_CERT_DER_INVALID',
  );
});

test('property: random bytes only ever give a profile or EK_CERT_DER_INVALID', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const c = code(() => readEkProfile(bytes));
      return c === 'no error' || c === 'EK_CERT_DER_INVALID';
    }),
    { numRuns: 2000 },
  );
});

test('property: a real EK certificate with any byte changed reads or fails by name', () => {
  const good = raw('vendor/ek-stm-ecc.der');
  fc.assert(
    fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, v) => {
      const bytes = good.slice();
      bytes[at] = v;
      const c = code(() => readEkProfile(bytes));
      return c === 'no error' || c === 'EK_CERT_DER_INVALID';
    }),
    { numRuns: 3000 },
  );
});
