import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { appraiseEkCertificate, checkEkCertificate, type EkCertInput } from '../../src/tpm/ekcert.ts';
import { parseTpm2bPublic, parseTpmtPublic } from '../../src/tpm/public.ts';
import { eccStoragePublic, rsaStoragePublic } from './encode.ts';
import { vector, vectorPath } from './vectors.ts';

const root = readFileSync(vectorPath('ca-root.pem'), 'utf8');
const issuer = readFileSync(vectorPath('ca-issuer.pem'), 'utf8');
const testCa = readFileSync(vectorPath('profile/ca.pem'), 'utf8');
const ekPublic = parseTpm2bPublic(vector('ek-rsa.pub'));
const certificate = vector('ek-rsa.crt');
const at = new Date('2027-01-01T00:00:00Z');

const codes = (checks: ReturnType<typeof checkEkCertificate>) =>
  checks.map((c) => `${c.name}:${c.status}${c.code ? `:${c.code}` : ''}`);
const swtpm: EkCertInput = { certificate, ekPublic, roots: [root], intermediates: [issuer], at };

test("swtpm's EK certificate (NV 0x01c00002) chains to its local CA and certifies the EK", () => {
  assert.deepEqual(codes(checkEkCertificate(swtpm)), ['tpm.ek.certificate:pass', 'tpm.ek.key:pass']);
});

test("swtpm's EK is classed development: its CA is the operator's, no TPM vendor's", () => {
  const r = appraiseEkCertificate(swtpm);
  assert.deepEqual(r.tpm, {
    root: 'development',
    issuer: 'CN=swtpm-localca-rootca',
    manufacturer: 'IBM (swtpm)',
  });
  assert.match(r.checks[0]!.detail, /^development root; chain: CN=unknown <- CN=swtpm-localca <- /);
  // Today's demo lists root and issuer together as roots: still development, anchored at the issuer.
  const both = appraiseEkCertificate({ ...swtpm, roots: [root, issuer], intermediates: [] });
  assert.deepEqual(both.tpm, {
    root: 'development',
    issuer: 'CN=swtpm-localca',
    manufacturer: 'IBM (swtpm)',
  });
});

test('requireHardware refuses the swtpm by name; a test CA configured as a vendor passes it', () => {
  assert.deepEqual(codes(checkEkCertificate({ ...swtpm, requireHardware: true })), [
    'tpm.ek.certificate:fail:EK_ROOT_NOT_HARDWARE',
    'tpm.ek.key:pass',
  ]);
  const good = { certificate: vector('profile/good.der'), ekPublic, roots: [], at };
  const hw = appraiseEkCertificate({ ...good, hardwareRoots: [testCa], requireHardware: true });
  assert.deepEqual(codes(hw.checks), ['tpm.ek.certificate:pass', 'tpm.ek.key:pass']);
  assert.deepEqual(hw.tpm, {
    root: 'hardware',
    issuer: 'O=TMB Test, CN=TMB Test TPM Vendor Root',
    manufacturer: 'Infineon',
  });
  // The same CA as the operator's root is development; unknown to both, the chain fails.
  assert.equal(appraiseEkCertificate({ ...good, roots: [testCa] }).tpm.root, 'development');
  const none = appraiseEkCertificate(good);
  assert.deepEqual(codes(none.checks), ['tpm.ek.certificate:fail:EK_CERT_CHAIN_INVALID', 'tpm.ek.key:pass']);
  assert.equal(none.tpm.root, 'unknown');
});

test('an EK certificate breaking the TCG profile fails EK_CERT_PROFILE_INVALID under any root', () => {
  for (const name of ['eku-wrong', 'no-san', 'san-partial', 'ku-wrong', 'is-ca']) {
    for (const roots of [{ hardwareRoots: [testCa], roots: [] }, { roots: [testCa] }]) {
      const r = appraiseEkCertificate({ certificate: vector(`profile/${name}.der`), ekPublic, at, ...roots });
      assert.deepEqual(
        codes(r.checks),
        ['tpm.ek.certificate:fail:EK_CERT_PROFILE_INVALID', 'tpm.ek.key:pass'],
        name,
      );
    }
  }
  const notes = appraiseEkCertificate({
    certificate: vector('profile/no-eku-ku.der'),
    ekPublic,
    at,
    roots: [testCa],
  });
  assert.match(notes.checks[0]!.detail, /no extended key usage extension; no key usage extension$/);
  const unknownVendor = appraiseEkCertificate({
    certificate: vector('profile/unknown-vendor.der'),
    ekPublic,
    at,
    roots: [testCa],
  });
  assert.equal(unknownVendor.tpm.manufacturer, 'id:58595A00');
});

/** A TPM public area around a certificate's key, so that tpm.ek.key can pass for a vendor cert. */
function ekOf(der: Uint8Array) {
  const jwk = new X509Certificate(der).publicKey.export({ format: 'jwk' });
  const b64 = (s: string | undefined) => new Uint8Array(Buffer.from(s!, 'base64url'));
  return parseTpmtPublic(
    jwk.kty === 'RSA' ? rsaStoragePublic(b64(jwk.n)) : eccStoragePublic(b64(jwk.x), b64(jwk.y)),
  );
}

test('real STMicroelectronics EK certificates chain to the shipped vendor CAs: hardware', () => {
  for (const [file, issuerCn] of [
    ['vendor/ek-stm-rsa.der', 'STM TPM EK Intermediate CA 05'],
    ['vendor/ek-stm-ecc.der', 'STM TPM ECC Intermediate CA 01'],
  ] as const) {
    const der = vector(file);
    const r = appraiseEkCertificate({
      certificate: der,
      ekPublic: ekOf(der),
      roots: [],
      at,
      requireHardware: true,
    });
    assert.deepEqual(codes(r.checks), ['tpm.ek.certificate:pass', 'tpm.ek.key:pass'], file);
    assert.deepEqual(r.tpm, {
      root: 'hardware',
      issuer: `C=CH, O=STMicroelectronics NV, CN=${issuerCn}`,
      manufacturer: 'STMicroelectronics',
    });
    // With the shipped list turned off, the same certificate chains to nothing.
    const off = appraiseEkCertificate({
      certificate: der,
      ekPublic: ekOf(der),
      roots: [],
      at,
      hardwareRoots: [],
    });
    assert.equal(off.checks[0]?.code, 'EK_CERT_CHAIN_INVALID');
  }
});

test('without the intermediate, or with the issuer as the only root of another chain, the chain fails', () => {
  assert.deepEqual(codes(checkEkCertificate({ certificate, ekPublic, roots: [root], at })), [
    'tpm.ek.certificate:fail:EK_CERT_CHAIN_INVALID',
    'tpm.ek.key:pass',
  ]);
  assert.deepEqual(
    codes(checkEkCertificate({ certificate, ekPublic, roots: [], intermediates: [issuer, root], at })),
    ['tpm.ek.certificate:fail:EK_CERT_CHAIN_INVALID', 'tpm.ek.key:pass'],
  );
});

test('outside its validity the chain fails', () => {
  const r = checkEkCertificate({ ...swtpm, at: new Date(0) });
  assert.equal(r[0]?.code, 'EK_CERT_CHAIN_INVALID');
});

test('a certificate for another key, or bytes that are no certificate, are named', () => {
  const otherEk = parseTpm2bPublic(vector('rsassa/ak.pub'));
  assert.deepEqual(codes(checkEkCertificate({ ...swtpm, ekPublic: otherEk })), [
    'tpm.ek.certificate:pass',
    'tpm.ek.key:fail:EK_CERT_KEY_MISMATCH',
  ]);
  const tampered = certificate.slice();
  tampered[tampered.length - 10]! ^= 1; // inside the signature
  assert.equal(checkEkCertificate({ ...swtpm, certificate: tampered })[0]?.code, 'EK_CERT_CHAIN_INVALID');
  const cut = appraiseEkCertificate({
    certificate: certificate.subarray(0, 100),
    ekPublic,
    roots: [root],
    at,
  });
  assert.equal(cut.checks[0]?.code, 'EK_CERT_INVALID');
  assert.equal(cut.tpm.root, 'unknown');
});
