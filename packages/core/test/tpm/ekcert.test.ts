import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkEkCertificate } from '../../src/tpm/ekcert.ts';
import { parseTpm2bPublic } from '../../src/tpm/public.ts';
import { vector, vectorPath } from './vectors.ts';

const root = readFileSync(vectorPath('ca-root.pem'), 'utf8');
const issuer = readFileSync(vectorPath('ca-issuer.pem'), 'utf8');
const ekPublic = parseTpm2bPublic(vector('ek-rsa.pub'));
const certificate = vector('ek-rsa.crt');
const at = new Date('2027-01-01T00:00:00Z');

const codes = (checks: ReturnType<typeof checkEkCertificate>) =>
  checks.map((c) => `${c.name}:${c.status}${c.code ? `:${c.code}` : ''}`);

test("swtpm's EK certificate (NV 0x01c00002) chains to its local CA and certifies the EK", () => {
  assert.deepEqual(
    codes(checkEkCertificate({ certificate, ekPublic, roots: [root], intermediates: [issuer], at })),
    ['tpm.ek.certificate:pass', 'tpm.ek.key:pass'],
  );
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
  const r = checkEkCertificate({
    certificate,
    ekPublic,
    roots: [root],
    intermediates: [issuer],
    at: new Date(0),
  });
  assert.equal(r[0]?.code, 'EK_CERT_CHAIN_INVALID');
});

test('a certificate for another key, or bytes that are no certificate, are named', () => {
  const otherEk = parseTpm2bPublic(vector('rsassa/ak.pub'));
  assert.deepEqual(
    codes(checkEkCertificate({ certificate, ekPublic: otherEk, roots: [root], intermediates: [issuer], at })),
    ['tpm.ek.certificate:pass', 'tpm.ek.key:fail:EK_CERT_KEY_MISMATCH'],
  );
  const tampered = certificate.slice();
  tampered[tampered.length - 10]! ^= 1; // inside the signature
  assert.equal(
    checkEkCertificate({ certificate: tampered, ekPublic, roots: [root], intermediates: [issuer], at })[0]
      ?.code,
    'EK_CERT_CHAIN_INVALID',
  );
  assert.equal(
    checkEkCertificate({ certificate: certificate.subarray(0, 100), ekPublic, roots: [root], at })[0]?.code,
    'EK_CERT_INVALID',
  );
});
